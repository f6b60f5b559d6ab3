"""Finding nodes on the local network: a zeroconf browse of ``_fristed._tcp.local.``.

mDNS answers are unauthenticated: the fingerprint found here is only compared with what the node
then shows (and with the console's own pin); it never replaces a pin.
"""
from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from typing import Callable

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_fristed._tcp.local."


@dataclass(frozen=True)
class FoundNode:
    """One advertised node."""

    instance: str          # the mDNS instance name
    name: str              # the node's own name (TXT ``name``)
    addresses: tuple[str, ...]
    port: int
    fingerprint: str       # TXT ``fp``
    scheme: str            # TXT ``scheme``
    version: str           # TXT ``v``

    @property
    def address(self) -> str:
        return self.addresses[0] if self.addresses else ""

    @property
    def url(self) -> str:
        host = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value is not None else ""


def from_info(info: AsyncServiceInfo) -> FoundNode | None:
    """A :class:`FoundNode` from resolved service info, or None when it is not usable."""
    props = {_text(k): _text(v) for k, v in (info.properties or {}).items()}
    addresses = tuple(info.parsed_addresses())
    port = info.port or 0
    try:
        port = int(props.get("port", port))
    except ValueError:
        pass
    if not addresses or not port:
        return None
    scheme = props.get("scheme", "https")
    if scheme not in ("http", "https"):
        scheme = "https"
    # IPv4 first: the node advertises IPv4, and link-local IPv6 needs a zone to be dialled
    ordered = tuple(sorted(addresses, key=lambda a: ipaddress.ip_address(a).version))
    instance = info.name.removesuffix("." + SERVICE_TYPE)
    return FoundNode(info.name, props.get("name") or instance, ordered, port, props.get("fp", ""),
                     scheme, props.get("v", ""))


class NodeBrowser:
    """Browses until closed; ``on_change`` gets the full, sorted list after every change."""

    def __init__(self, on_change: Callable[[list[FoundNode]], None] | None = None,
                 interfaces: list[str] | None = None, resolve_ms: int = 3000) -> None:
        self.on_change = on_change or (lambda nodes: None)
        self.interfaces = interfaces
        self.resolve_ms = resolve_ms
        self.nodes: dict[str, FoundNode] = {}
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.interfaces:
            self._zc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        else:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE_TYPE, handlers=[self._handler])

    def _handler(self, zeroconf: Zeroconf, service_type: str, name: str,
                 state_change: ServiceStateChange) -> None:
        # zeroconf may call this from its own thread: hop onto our loop
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._schedule, name, state_change)

    def _schedule(self, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Removed:
            if self.nodes.pop(name, None) is not None:
                self.on_change(self.sorted())
            return
        task = asyncio.ensure_future(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        if self._zc is None:
            return
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(self._zc.zeroconf, self.resolve_ms):
            return
        found = from_info(info)
        if found is not None and self.nodes.get(name) != found:
            self.nodes[name] = found
            self.on_change(self.sorted())

    def sorted(self) -> list[FoundNode]:
        return sorted(self.nodes.values(), key=lambda n: (n.name.lower(), n.address))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            await self._zc.async_close()
        self._browser = self._zc = None


async def discover(seconds: float = 3.0, interfaces: list[str] | None = None) -> list[FoundNode]:
    """Browse for a while and return what answered."""
    browser = NodeBrowser(interfaces=interfaces)
    await browser.start()
    try:
        await asyncio.sleep(seconds)
    finally:
        await browser.close()
    return browser.sorted()
