"""The ICE servers the node hands its clients: its own TURN relay with short-lived credentials.

Never a third-party STUN server. On a LAN the list is empty; with the deploy's coturn, the secret
arrives as the systemd credential ``fristed-turn-secret`` and the port as ``FRISTED_TURN_PORT``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from crypto.turn import DEFAULT_TTL, new_tag, turn_credentials

CREDENTIAL = "fristed-turn-secret"


@dataclass(frozen=True)
class TurnRelay:
    """Where the relay is and the secret shared with it."""

    secret: bytes
    port: int = 3478
    host: str | None = None  # public name or address; default: the host the client used

    def __repr__(self) -> str:  # never print the secret
        return f"TurnRelay(port={self.port}, host={self.host!r})"


def relay_from_environment(env: Mapping[str, str] = os.environ) -> TurnRelay | None:
    """The relay configured by the deploy, or None when the node has no TURN relay."""
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    path = Path(cred_dir) / CREDENTIAL if cred_dir else None
    if path is None or not path.is_file():
        return None
    secret = path.read_bytes().strip()
    if not secret:
        return None
    port = int(env.get("FRISTED_TURN_PORT", "3478"))
    if not 1 <= port <= 65535:
        raise ValueError("FRISTED_TURN_PORT must be a port number")
    return TurnRelay(secret, port, env.get("FRISTED_TURN_HOST") or None)


def ice_servers(relay: TurnRelay | None, request_host: str, now: float, ttl: int = DEFAULT_TTL) -> list[dict[str, Any]]:
    """The ``iceServers`` list for one client: empty on a LAN-only node, else the node's TURN relay."""
    if relay is None:
        return []
    host = relay.host or request_host.rsplit(":", 1)[0].strip("[]")
    if ":" in host:
        host = f"[{host}]"
    urls = [f"turn:{host}:{relay.port}?transport=udp", f"turn:{host}:{relay.port}?transport=tcp"]
    return [turn_credentials(relay.secret, ttl, now, new_tag(), urls)]
