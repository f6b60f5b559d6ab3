"""`fristed serve`: open the store, make TLS, start HTTP, advertise, and stop cleanly on SIGTERM."""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import ssl
import time
from contextlib import AsyncExitStack
from typing import Callable

from aiohttp import web

from crypto.ca import TLSFiles, ensure_local_tls, external_tls
from crypto.storekey import PassphraseSource
from node import __version__, systemd
from node.app import create_app
from node.auth import Auth
from node.call_ws import CALLS
from node.clock import Clock
from node.config import NodeConfig
from node.context import NodeContext
from node.datadir import DataDir, DirLock
from node.discovery import Advertiser, local_addresses, txt_record
from node.logs import AccessLogger
from node.store import Store

log = logging.getLogger("fristed.server")


def tls_files(config: NodeConfig, data: DataDir) -> TLSFiles | None:
    """The certificate to serve: from elsewhere, or made by the node-local CA."""
    if config.http:
        return None
    if config.cert and config.key:
        return external_tls(config.cert, config.key)
    host = socket.gethostname()
    names = list(dict.fromkeys([host, f"{host}.local", "localhost"]))
    addrs = local_addresses(include_loopback=True) + [ipaddress.ip_address("127.0.0.1")]
    return ensure_local_tls(data.tls_dir, config.node_name, names, list(dict.fromkeys(addrs)))


def ssl_context(tls: TLSFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.cert), str(tls.key))
    return ctx


def public_url(config: NodeConfig, port: int) -> str:
    host = socket.gethostname() + ".local" if config.host in ("0.0.0.0", "::") else config.host
    if config.http and config.host in ("0.0.0.0", "::"):
        host = "localhost"
    default = 80 if config.http else 443
    return f"{config.scheme}://{host}{'' if port == default else f':{port}'}/"


class RunningNode:
    """A started node; tests use it directly, `fristed serve` waits on it."""

    def __init__(self, ctx: NodeContext, runner: web.AppRunner, port: int, url: str,
                 stack: AsyncExitStack) -> None:
        self.ctx, self.runner, self.port, self.url, self._stack = ctx, runner, port, url, stack

    async def stop(self) -> None:
        systemd.notify("STOPPING=1")
        await self._stack.aclose()


async def start(config: NodeConfig, passphrase: PassphraseSource | None = None,
                clock: Clock | None = None, announce: Callable[[str], None] | None = None) -> RunningNode:
    """Bring the node up; every part is closed again by :meth:`RunningNode.stop`."""
    clock = clock or Clock()
    data = DataDir(config.data_dir)
    data.ensure()
    stack = AsyncExitStack()
    try:
        lock = DirLock(data)
        lock.acquire("starting a second node on it")
        stack.callback(lock.release)
        key = data.load_or_create_key(passphrase)
        store = await Store.open(data.database(key), key.key)
        stack.push_async_callback(store.close)
        tls = tls_files(config, data)
        ctx = NodeContext(config, store, clock, Auth(store, clock, config.session_policy), tls, clock.now())
        app = create_app(ctx)
        runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=5.0,
                               handle_signals=False)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context(tls) if tls else None,
                           reuse_address=True)
        await site.start()
        server = site._server  # aiohttp keeps the listening sockets here
        port = server.sockets[0].getsockname()[1] if server and server.sockets else config.port  # type: ignore[union-attr]
        url = public_url(config, port)
        data.url_file.write_text(url + "\n", encoding="utf-8")
        app[CALLS].public_base = url.rstrip("/")
        if config.zeroconf:
            advertiser = Advertiser(config.node_name, port,
                                    txt_record(__version__, config.node_name, port,
                                               tls.fingerprint if tls else "", config.scheme),
                                    config.zeroconf_interfaces)
            await advertiser.start()
            stack.push_async_callback(advertiser.stop)
        watchdog = asyncio.create_task(systemd.watchdog(store.healthy))
        stack.callback(watchdog.cancel)
    except BaseException:
        await stack.aclose()
        raise
    log.info("node is up", extra={"event": "ready", "version": __version__, "port": port, "url": url,
                                  **({"fingerprint": tls.fingerprint} if tls else {})})
    if announce:
        announce(f"fristed {__version__} is running. Open {url}")
        if tls and tls.ca_cert:
            announce(f"Local CA fingerprint (SHA-256): {tls.fingerprint}")
            announce(f"Devices can trust this node with {url}ca.crt")
    systemd.notify("READY=1")
    return RunningNode(ctx, runner, port, url, stack)


async def serve(config: NodeConfig, passphrase: PassphraseSource | None = None,
                announce: Callable[[str], None] | None = print) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    node = await start(config, passphrase, announce=announce)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        began = time.monotonic()
        await node.stop()
        log.info("node stopped", extra={"event": "stopped", "ms": round((time.monotonic() - began) * 1000)})
