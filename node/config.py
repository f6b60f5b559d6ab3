"""The node's settings, with embedded defaults for `fristed serve`."""
from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from node.datadir import default_data_dir
from node.ice import TurnRelay, relay_from_environment
from node.sessions import SessionPolicy


@dataclass
class NodeConfig:
    """Everything `fristed serve` can be told; defaults run a whole node on a laptop."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "0.0.0.0"
    port: int = 8443
    http: bool = False  # plain HTTP, for localhost or behind a reverse proxy
    cert: Path | None = None
    key: Path | None = None
    node_name: str = field(default_factory=socket.gethostname)
    zeroconf: bool = True
    zeroconf_interfaces: list[str] | None = None
    extra_origins: list[str] = field(default_factory=list)
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    turn: TurnRelay | None = field(default_factory=relay_from_environment)
    media_ports: tuple[int, int] | None = None  # UDP range for media host candidates (FRISTED_MEDIA_PORTS)
    public_address: str | None = None  # advertised beside host candidates, same ports (port forwarding)

    @property
    def scheme(self) -> str:
        return "http" if self.http else "https"
