"""The node's event loop: asyncio's own, on an epoll selector that handles publishers' media in C.

A forwarder spends most of its CPU being woken up: on this project's VM, an asyncio process that
does nothing with 120 datagrams/s pays ~250 µs of CPU per datagram, a bare C `recv` loop ~25 µs
(`bench/wakeup.py`), because every wake-up finds the caches cold and asyncio's Python machinery
(`_run_once`, the selector, the handle, the transport's `_read_ready`, the protocol callbacks) is
a lot of memory to bring back for one packet.

`MediaSelector` is `selectors.EpollSelector` with one difference: the sockets that `media.sfu`
hands it (`take`, each ICE socket of a connection with the C receive path) have their SRTP media
read and handled by `media._inlet.Poller` inside `select()`, in C, with no Python running for the
common packet. Everything else is left in the socket for asyncio's reader, which handles it as
before: STUN, DTLS, RTCP, media before its keys or after a re-key, and any socket error. `select()`
returns to asyncio as soon as any other file descriptor is ready, when its timeout is up, or when
handling media gave the loop work (a callback queued, a timer added or removed), so nothing waits
longer than it would on the plain selector.

It runs on the loop's own thread, between iterations, where asyncio's callbacks run too, so the
media path sees the same state it would from a callback. A socket's route is dropped when asyncio
unregisters its file descriptor (before closing it) and when a new registration takes the number.

Where the C receive path is not built (`media.inlet.available()`), `new_event_loop()` gives asyncio's
own loop; where asyncio's loop does not keep its queues where this expects (`_ready`, `_scheduled`,
CPython's), the selector selects as EpollSelector does and takes no socket. Media then takes
asyncio's way, as it does on a loop made elsewhere.

Measured in bench/sfu.py (`SFU_BENCH_LOOP=asyncio` for the A/B): the 2x3 room's forwarder from
3.0-3.3 % to 2.3-2.4 % of a core (docs/performance.md, session 8).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import math
import select
import selectors
from collections.abc import Callable
from typing import Any, Optional

from media import inlet
from media import internals as ix

logger = logging.getLogger(__name__)


def _report(exc: BaseException) -> None:
    logger.error("forwarding a packet failed", exc_info=exc)


class MediaSelector(selectors.EpollSelector):
    """An epoll selector whose `select()` handles the media of the sockets given to `take`."""

    def __init__(self) -> None:
        super().__init__()
        self.poller: Any = inlet.Poller(ix.DTLS_RX_SRTP, _report)
        self._queues: Optional[tuple[collections.deque[Any], list[Any]]] = None

    def watch(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Return to `loop` whenever handling media queues a callback or changes its timers;
        False (and `select` stays EpollSelector's) if the loop keeps them elsewhere."""
        ready, scheduled = getattr(loop, "_ready", None), getattr(loop, "_scheduled", None)
        if not isinstance(ready, collections.deque) or not isinstance(scheduled, list):
            return False
        self._queues = (ready, scheduled)
        return True

    def take(self, fd: int, fast: object, dtls: object, fallback: Callable[[bytes], None]) -> None:
        """Handle the SRTP media arriving on this registered socket with `fast` (a C Inlet);
        `fallback(plain)` is the Python path for a packet the C one leaves to it."""
        if self._queues is None or self.get_map().get(fd) is None:
            raise KeyError(f"{fd} is not a registered socket of a watched loop")
        self.poller.add(fd, fast, dtls, fallback)

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = super().register(fileobj, events, data)
        self.poller.discard(key.fd)  # a number that was a media socket's is someone else's now
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        key = super().unregister(fileobj)
        self.poller.discard(key.fd)  # asyncio unregisters before it closes the socket
        return key

    def select(self, timeout: Optional[float] = None) -> list[tuple[selectors.SelectorKey, int]]:
        if self._queues is None:
            return super().select(timeout)
        if timeout is None:
            ms = -1
        elif timeout <= 0:
            ms = 0
        else:  # as EpollSelector: wait at least `timeout`
            ms = math.ceil(timeout * 1e3)
        ready = []
        for fd, event in self.poller.poll(self._selector.fileno(), ms, max(len(self._fd_to_key), 1),
                                          *self._queues):
            events = 0
            if event & ~select.EPOLLIN:
                events |= selectors.EVENT_WRITE
            if event & ~select.EPOLLOUT:
                events |= selectors.EVENT_READ
            key = self._fd_to_key.get(fd)
            if key:
                ready.append((key, events & key.events))
        return ready


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The node's loop: asyncio's selector loop on a `MediaSelector`, or a plain one (see above)."""
    if not inlet.available():
        return asyncio.new_event_loop()
    selector = MediaSelector()
    loop = asyncio.SelectorEventLoop(selector)
    if not selector.watch(loop):
        logger.warning("asyncio keeps its queues elsewhere: media takes asyncio's own way")
    return loop


def media_selector(loop: asyncio.AbstractEventLoop) -> Optional[MediaSelector]:
    """The loop's MediaSelector, if it runs on one."""
    selector = getattr(loop, "_selector", None)
    return selector if isinstance(selector, MediaSelector) else None
