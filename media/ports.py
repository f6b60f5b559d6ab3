"""UDP port range for ICE host candidates, and a public address for port-forwarded nodes.

aioice has no port-range option: it binds each host candidate with
``loop.create_datagram_endpoint(..., local_addr=(address, 0))`` (``Connection.get_component_candidates``,
named in `media.internals`). `binding(port_range)` wraps the running loop's
``create_datagram_endpoint`` so that, inside the ``with`` block *and in tasks started from it*
(a context variable scopes it, so other connections on the same loop are untouched), a bind to
port 0 takes a free port from the range instead (random start, next port on EADDRINUSE). If the
range is exhausted aioice would only log and skip the address; the context manager raises
`PortRangeExhausted` on exit instead. The TURN client socket binds no local address and is not
covered.

`advertise_public(sdp, address)` adds, for each UDP host candidate of the address's family, a host
candidate with the public address and the same port (1:1 port forwarding), with its own
foundation and a slightly lower priority.
"""
from __future__ import annotations

import asyncio
import contextvars
import errno
import hashlib
import ipaddress
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PortRange = tuple[int, int]


class PortRangeExhausted(OSError):
    """Every UDP port of the media range is in use on an address."""


def parse_range(text: str) -> PortRange:
    """``"40000-40999"`` -> ``(40000, 40999)``; ValueError with a readable message otherwise."""
    try:
        low_s, high_s = text.strip().split("-")
        low, high = int(low_s), int(high_s)
    except ValueError:
        raise ValueError(f"media port range {text!r} is not LOW-HIGH (e.g. 40000-40999)") from None
    check_range((low, high))
    return low, high


def check_range(port_range: PortRange) -> PortRange:
    low, high = port_range
    if not (1 <= low <= high <= 65535):
        raise ValueError(f"media port range {low}-{high} must satisfy 1 <= LOW <= HIGH <= 65535")
    return low, high


def check_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise ValueError(f"public address {address!r} is not an IP address") from None


class _Scope:
    def __init__(self, port_range: PortRange) -> None:
        self.low, self.high = port_range
        self.bound: list[tuple[str, int]] = []
        self.exhausted: list[str] = []


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("media_port_scope", default=None)
_WRAPPED = "_fristed_port_range_wrapped"


def _wrap(loop: asyncio.AbstractEventLoop) -> None:
    if getattr(loop, _WRAPPED, False):
        return
    original = loop.create_datagram_endpoint

    async def create_datagram_endpoint(protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None,
                                       **kwargs: Any) -> Any:
        scope = _scope.get()
        if scope is None or local_addr is None or local_addr[1] != 0 or kwargs.get("sock") is not None:
            return await original(protocol_factory, local_addr, remote_addr, **kwargs)
        host = local_addr[0]
        size = scope.high - scope.low + 1
        start = random.randrange(size)
        for i in range(size):
            port = scope.low + (start + i) % size
            try:
                result = await original(protocol_factory, (host, port, *local_addr[2:]), remote_addr, **kwargs)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            scope.bound.append((host, port))
            return result
        message = f"no free UDP port for {host} in the media range {scope.low}-{scope.high}"
        scope.exhausted.append(message)
        raise PortRangeExhausted(errno.EADDRINUSE, message)

    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]
    setattr(loop, _WRAPPED, True)


@contextmanager
def binding(port_range: PortRange | None) -> Iterator[_Scope | None]:
    """Inside this block (and tasks it starts), UDP binds to port 0 take a port from the range.

    ``None`` does nothing. Needs a running loop. Raises `PortRangeExhausted` on exit if a bind
    found the range full (aioice itself would swallow the error and just offer no candidate).
    """
    if port_range is None:
        yield None
        return
    _wrap(asyncio.get_running_loop())
    scope = _Scope(check_range(port_range))
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
    if scope.exhausted:
        raise PortRangeExhausted(errno.EADDRINUSE, "; ".join(scope.exhausted))


def advertise_public(sdp: str, address: str | None) -> str:
    """Add a public host candidate (same port) after each UDP host candidate of the same family."""
    if not address:
        return sdp
    public = ipaddress.ip_address(address)
    foundation = hashlib.md5(f"public|{public}".encode()).hexdigest()
    newline = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    added: set[str] = set()
    for line in sdp.split(newline):
        out.append(line)
        if line.startswith("m="):
            added = set()  # each m-line gets its own copies
        if not line.startswith("a=candidate:"):
            continue
        parts = line[len("a=candidate:"):].split()
        # foundation component transport priority address port "typ" type ...
        if len(parts) < 8 or parts[2].lower() != "udp" or parts[6] != "typ" or parts[7] != "host":
            continue
        try:
            local = ipaddress.ip_address(parts[4])
        except ValueError:
            continue  # e.g. an mDNS name
        if local.version != public.version or local == public:
            continue
        extra = [foundation, parts[1], parts[2], str(max(1, int(parts[3]) - 256)), str(public), parts[5],
                 *parts[6:8]]
        candidate = "a=candidate:" + " ".join(extra)
        if candidate not in added:
            added.add(candidate)
            out.append(candidate)
    return newline.join(out)
