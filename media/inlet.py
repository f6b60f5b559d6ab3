"""The receive path in C (media/_inlet.c), for the common packet of a known publisher stream.

`media.sfu` receives each participant's SRTP media in its `_Inlet`. Without the C extension it
unprotects, parses and handles every packet in Python (`Publication.on_rtp`). With it, the
`Inlet` here unprotects and parses in C, and a packet of a registered `Stream` (a publisher's
media SSRC, a payload type of a media codec) is handled there entirely: aiortc's receiver
statistics (RR) and NACK generator, the REMB estimator (called, it is aiortc's), the publication's
history, newest packet and speaking time, and the fan-out to the legs (media._outlet's loop).
Anything else (the first packets of a stream, RTX, a payload type it was not told about, a
restarted stream, a header it does not read the way aiortc does) comes back unprotected for the
Python path, before any state changes. Both paths write the same Python objects, so either can
take the next packet; tests/media/test_inlet.py checks they leave the same state.

The C path reads only the abs-send-time and audio-level header extensions; it does not decode
the MID or RID values (aiortc would refuse a packet whose MID is not UTF-8; the forwarded MID is
the leg's own). `FAST` says whether it is in use: it needs both extensions built.
"""
from __future__ import annotations

from typing import Any

from pylibsrtp._binding import ffi as srtp_ffi
from pylibsrtp._binding import lib as srtp_lib

from media import internals as ix
from media import outlet

try:
    from media import _inlet  # type: ignore[attr-defined]
except ImportError:  # not built: no C compiler or Python headers where it was installed
    _inlet = None

FAST: bool = (_inlet is not None and outlet.FAST and _inlet.RTP_BUFFER == outlet.RTP_BUFFER
              and _inlet.NACK_WINDOW == ix.NACK_WINDOW)
Inlet: Any = _inlet.Inlet if FAST else None
Stream: Any = _inlet.Stream if FAST else None


def available() -> bool:
    """Whether a new connection gets the C receive path: built, and the C forwarding loop in use
    (it hands packets to that loop's outlets)."""
    return FAST and outlet.fanout is outlet._outlet.fanout  # type: ignore[union-attr]


def unprotect_address() -> int:
    """The address of libsrtp's `srtp_unprotect` in pylibsrtp's binding."""
    return int(srtp_ffi.cast("uintptr_t", srtp_ffi.addressof(srtp_lib, "srtp_unprotect")))


def extension_ids(extensions_map: object) -> tuple[int, int]:
    """The abs-send-time and audio-level ids of a transport's aiortc HeaderExtensionsMap (0: none)."""
    ids = ix.get(extensions_map, ix.EXT_MAP_IDS)
    return (getattr(ids, "abs_send_time", None) or 0, getattr(ids, "audio_level", None) or 0)


