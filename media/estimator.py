"""The receive-side bandwidth estimator a publication feeds: aiortc's, in C where it is built.

Every video receiver in aiortc owns a `RemoteBitrateEstimator` (aiortc/rate.py): each packet's
abs-send-time and arrival time go through an inter-arrival filter, a Kalman filter and an AIMD
rate control, and now and then it offers a bitrate for a REMB to the publisher. In Python that is
~17 µs per video packet, the largest single cost of a publisher's receive path. media/_estimator.c
is the same estimator in C (~1 µs), with the same state and arithmetic, so it gives the same
answers (tests/media/test_estimator.py compares both, packet by packet, with hypothesis) and
takes over from aiortc's in each publisher's receiver (`adopt`). media._inlet calls it without
building Python objects. Without the extension, aiortc's own estimator stays.
"""
from __future__ import annotations

from typing import Any

from aiortc.rate import RemoteBitrateEstimator

from media import internals as ix

try:
    from media import _estimator  # type: ignore[attr-defined]
except ImportError:  # not built: no C compiler or Python headers where it was installed
    _estimator = None

FAST: bool = _estimator is not None


def new() -> Any:
    """A fresh estimator: media._estimator's, or aiortc's where that is not built."""
    return _estimator.Estimator() if FAST else RemoteBitrateEstimator()


def adopt(receiver: Any) -> Any:
    """Give an aiortc receiver a fresh estimator of ours (video receivers have one; audio receivers
    have None and keep it), and return the receiver's estimator."""
    if ix.get(receiver, ix.RX_BITRATE_ESTIMATOR) is not None:
        ix.put(receiver, ix.RX_BITRATE_ESTIMATOR, new())
    return ix.get(receiver, ix.RX_BITRATE_ESTIMATOR)
