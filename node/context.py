"""What every view and WebSocket handler can reach, keyed into the aiohttp app."""
from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from crypto.ca import TLSFiles
from node.auth import Auth
from node.clock import Clock
from node.config import NodeConfig
from node.ratelimit import KeyedBuckets
from node.store import Store


@dataclass
class NodeContext:
    """The node's long-lived parts."""

    config: NodeConfig
    store: Store
    clock: Clock
    auth: Auth
    tls: TLSFiles | None
    started: float
    anonymous_limit: KeyedBuckets = field(init=False)

    def __post_init__(self) -> None:
        # anonymous endpoints (enrolment, WebSocket opens): 1 a second, bursts of 20, per source
        self.anonymous_limit = KeyedBuckets(self.clock, rate=1.0, burst=20.0)


CONTEXT: web.AppKey[NodeContext] = web.AppKey("context", NodeContext)
