"""sd_notify: READY, STOPPING and WATCHDOG pings when systemd asks for them."""
from __future__ import annotations

import asyncio
import os
import socket
from typing import Awaitable, Callable


def notify(state: str) -> bool:
    """Send ``state`` to ``$NOTIFY_SOCKET``; False when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True


def watchdog_interval() -> float | None:
    """Half of ``$WATCHDOG_USEC`` in seconds, when the watchdog is on for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.5, int(usec) / 2_000_000)
    except ValueError:
        return None


async def watchdog(check: Callable[[], Awaitable[bool]]) -> None:
    """Ping the watchdog every half period while ``check()`` says the node is healthy."""
    interval = watchdog_interval()
    if interval is None:
        return
    while True:
        if await check():
            notify("WATCHDOG=1")
        await asyncio.sleep(interval)
