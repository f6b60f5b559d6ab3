"""The receive path in C (media/_inlet.c), for the common packet of a known publisher stream.

`media.sfu` receives each participant's SRTP media in its `_Inlet`. Without the C extension it
unprotects, parses and handles every packet in Python (`Publication.on_rtp`). With it, the
`Inlet` here unprotects and parses in C, and a packet of a registered `Stream` (a publisher's
media SSRC, a payload type of a media codec) is handled there entirely: aiortc's receiver
statistics (RR) and NACK generator, the REMB estimator (media.estimator's, called through its C
capsule; aiortc's, as a Python object, where that is not built), the publication's
history, newest packet and speaking time, and the fan-out to the legs (media._outlet's loop).
Anything else (the first packets of a stream, RTX, a payload type it was not told about, a
restarted stream, a header it does not read the way aiortc does) comes back unprotected for the
Python path, before any state changes. Both paths write the same Python objects, so either can
take the next packet; tests/media/test_inlet.py checks they leave the same state.

On the node's loop (media/selector.py) the datagrams do not even go through asyncio: `Poller`, in
the loop's epoll wait, reads each taken socket's SRTP media and calls the same C receive path, and
the packets it returns for the Python path go to `_Inlet.plain_received`.

The C path reads the abs-send-time and audio-level header extensions and checks the others the
way aiortc decodes them (`extension_kinds`); a datagram longer than pylibsrtp's buffer is refused
as on the Python path. Its clocks are the ones asyncio's default loop uses on Linux
(CLOCK_MONOTONIC for `loop.time()`, CLOCK_REALTIME for `time.time()`); the node runs that loop.
`FAST` says whether it is in use: it needs both extensions built.
"""
from __future__ import annotations

from typing import Any

from media import internals as ix
from media import outlet

try:
    from media import _inlet  # type: ignore[attr-defined]
except ImportError:  # not built: no C compiler or Python headers where it was installed
    _inlet = None

# what media/_inlet.c does with an extension element (its EXT_* constants), by the HeaderExtensions
# field aiortc reads it into, in aiortc's order of precedence (HeaderExtensionsMap.get tests them in
# this order, so an id negotiated for two URIs means the first)
EXTENSION_KINDS = (("mid", 3), ("repaired_rtp_stream_id", 4), ("rtp_stream_id", 4), ("abs_send_time", 1),
                   ("transmission_offset", 5), ("audio_level", 2), ("transport_sequence_number", 6))
_C_KINDS = ("EXT_UTF8", "EXT_ASCII", "EXT_ASCII", "EXT_ABS_SEND_TIME", "EXT_3_BYTES", "EXT_AUDIO_LEVEL",
            "EXT_2_BYTES")

FAST: bool = (_inlet is not None and outlet.FAST and _inlet.RTP_BUFFER == outlet.RTP_BUFFER
              and _inlet.NACK_WINDOW == ix.NACK_WINDOW and _inlet.MAX_DATAGRAM == ix.SRTP_BUFFER
              and [getattr(_inlet, c, None) for c in _C_KINDS] == [k for _, k in EXTENSION_KINDS])
Inlet: Any = _inlet.Inlet if FAST else None
Stream: Any = _inlet.Stream if FAST else None
Poller: Any = _inlet.Poller if FAST else None


def available() -> bool:
    """Whether a new connection gets the C receive path: built, and the C forwarding loop in use
    (it hands packets to that loop's outlets)."""
    return FAST and outlet.fanout is outlet._outlet.fanout  # type: ignore[union-attr]


def unprotect_address() -> int:
    """The address of libsrtp's `srtp_unprotect` in pylibsrtp's binding."""
    return outlet.libsrtp_address("srtp_unprotect")


def extension_kinds(extensions_map: object) -> bytes:
    """For each header extension id (0-255), what aiortc's HeaderExtensionsMap reads it as: the
    C path reads abs-send-time and audio level, and checks the others as aiortc would decode
    them (a MID that is not UTF-8, a RID that is not ASCII, a wrong length), so a packet aiortc
    refuses goes back to the Python path, which refuses it."""
    ids = ix.get(extensions_map, ix.EXT_MAP_IDS)
    kinds = bytearray(256)
    for name, kind in reversed(EXTENSION_KINDS):
        ext_id = getattr(ids, name, None)
        if isinstance(ext_id, int) and 0 < ext_id < 256:
            kinds[ext_id] = kind
    return bytes(kinds)


def sync_extensions(fast: Any, dtls: object) -> None:
    """Tell a C inlet what its DTLS transport's extension ids mean now (aiortc reconfigures the
    transport's one map as m-lines are negotiated on it)."""
    fast.set_extensions(extension_kinds(ix.get(dtls, ix.DTLS_EXT_MAP)))


