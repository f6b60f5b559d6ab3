"""Zeroconf advertisement of ``_fristed._tcp.local.`` with the pinning fingerprint in TXT."""
from __future__ import annotations

import ipaddress
import logging
import socket

import ifaddr
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

SERVICE_TYPE = "_fristed._tcp.local."
log = logging.getLogger("fristed.discovery")


def local_addresses(include_loopback: bool = False) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The machine's own unicast addresses (no link-local IPv6)."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip[0] if isinstance(ip.ip, tuple) else ip.ip
            try:
                addr = ipaddress.ip_address(raw)
            except ValueError:
                continue
            if addr.is_link_local or addr.is_multicast or (addr.is_loopback and not include_loopback):
                continue
            if addr not in found:
                found.append(addr)
    return found


def txt_record(version: str, name: str, port: int, fingerprint: str, scheme: str) -> dict[str, str]:
    """The TXT properties: nothing but what a console needs to find and pin the node."""
    return {"v": version, "name": name, "port": str(port), "fp": fingerprint, "scheme": scheme}


class Advertiser:
    """Registers the node on start and withdraws it on stop."""

    def __init__(self, name: str, port: int, properties: dict[str, str],
                 interfaces: list[str] | None = None) -> None:
        self.name, self.port, self.properties = name, port, properties
        self.interfaces = interfaces
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def start(self) -> None:
        if self.interfaces:
            addrs = [ipaddress.ip_address(a) for a in self.interfaces]
            zc = AsyncZeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only)
        else:
            addrs = [a for a in local_addresses() if a.version == 4]
            zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        instance = self.name.replace(".", "-")[:60]
        info = AsyncServiceInfo(SERVICE_TYPE, f"{instance}.{SERVICE_TYPE}",
                                addresses=[a.packed for a in addrs], port=self.port,
                                properties=self.properties, server=f"{socket.gethostname()}.local.")
        await zc.async_register_service(info, allow_name_change=True)
        self._zc, self._info = zc, info
        log.info("advertised on the local network", extra={"event": "zeroconf", "port": self.port})

    async def stop(self) -> None:
        if self._zc is None:
            return
        try:
            if self._info is not None:
                await self._zc.async_unregister_service(self._info)
        finally:
            await self._zc.async_close()
            self._zc = self._info = None
