"""The receive-side bandwidth estimator a publication feeds: aiortc's, in C where it is built.

Every video receiver in aiortc owns a `RemoteBitrateEstimator` (aiortc/rate.py): each packet's
abs-send-time and arrival time go through an inter-arrival filter, a Kalman filter and an AIMD
rate control, and now and then it offers a bitrate for a REMB to the publisher. In Python that is
~17 µs per video packet, the largest single cost of a publisher's receive path. media/_estimator.c
is the same estimator in C (~1 µs), with the same state and arithmetic, so it gives the same
answers (tests/media/test_estimator.py compares both, packet by packet, with hypothesis) and
takes over from aiortc's in each publisher's receiver (`adopt`). media._inlet calls it without
building Python objects. Without the extension, aiortc's own estimator is used, with one change:
its rate counter walks every millisecond of a pause in Python (the first packet after a camera
was off for ten minutes blocked the event loop for 166 ms here), so a pause longer than its
one-second window clears it at once, to the same end state (`_RateCounter`).
"""
from __future__ import annotations

from typing import Any

from aiortc.rate import RateCounter, RemoteBitrateEstimator

from media import internals as ix

try:
    from media import _estimator  # type: ignore[attr-defined]
except ImportError:  # not built: no C compiler or Python headers where it was installed
    _estimator = None

FAST: bool = _estimator is not None


class _RateCounter(RateCounter):
    """aiortc's rate counter, except that a gap longer than its window clears it in one step, to
    the state aiortc's walk through the gap would leave (media/_estimator.c does the same)."""

    def _erase_old(self, now_ms: int) -> None:
        new_origin_ms = now_ms - self._window_size + 1
        steps = new_origin_ms - self._origin_ms
        if steps < self._window_size:
            super()._erase_old(now_ms)
            return
        index = (self._origin_index + steps) % self._window_size
        self.reset()
        self._origin_index, self._origin_ms = index, new_origin_ms


def new() -> Any:
    """A fresh estimator: media._estimator's, or aiortc's (`aiortcs`) where that is not built."""
    return _estimator.Estimator() if FAST else aiortcs()


def aiortcs() -> RemoteBitrateEstimator:
    """aiortc's estimator with `_RateCounter` in place of its own rate counter."""
    est = RemoteBitrateEstimator()
    counter = ix.get(est, ix.EST_RATE_COUNTER)
    ix.put(est, ix.EST_RATE_COUNTER, _RateCounter(counter._window_size, counter._scale))
    return est


def adopt(receiver: Any) -> Any:
    """Give an aiortc receiver a fresh estimator of ours (video receivers have one; audio receivers
    have None and keep it), and return the receiver's estimator."""
    if ix.get(receiver, ix.RX_BITRATE_ESTIMATOR) is not None:
        ix.put(receiver, ix.RX_BITRATE_ESTIMATOR, new())
    return ix.get(receiver, ix.RX_BITRATE_ESTIMATOR)
