"""The selective forwarding unit: one `Room`, one aiortc peer connection per participant.

Media is forwarded as RTP packets and never decoded, re-encoded or written anywhere. Each
publisher's incoming RTP is intercepted in its `RTCRtpReceiver` (the decoder thread is stopped the
moment aiortc starts it and is never fed), rewritten per subscriber (SSRC, sequence number,
timestamp, payload type, header-extension ids, MID; serialized by `media.packets.RtpWriter`),
SRTP-protected with the subscriber's DTLS transport's session and written straight to its selected
ICE pair (see `_Wire`). Both ends have a C form when it is built: `media.outlet` (the per-leg
loop) and `media.inlet` (the receive path for the common packet; everything else comes back
to `_Inlet` and `Publication.on_rtp` here). The private aiortc names this needs are in
`media.internals` and are checked by `tests/media/test_internals.py` against aiortc 1.16.0.

Interface for the node (signalling is the node's business; this module never imports `node`)::

    room = Room(ice_servers=[], on_offer=send_offer_to_client, max_video=6)
    answer_sdp = await room.join(pid, offer_sdp)   # the client's first offer -> our answer
    # later, whenever publishers come or go, the room renegotiates each affected subscriber:
    #   await on_offer(pid, offer_sdp)   -> the node sends it to the client
    await room.answer(pid, answer_sdp)             # ... and hands the client's answer back
    answer_sdp = await room.restart_ice(pid, offer_sdp)  # a client's ICE restart (network change)
    await room.leave(pid)                          # tracks end for the others (RTCP BYE + inactive)
    room.participants                              # pids, in join order
    room.forwarded_video(pid)                      # publishers whose video pid receives now
    await room.close()

    Room(..., loopback=True)                       # device test: each participant also receives
                                                   # its own publications, through the same path

- `ice_servers` is mandatory and used as given (`[]` on a LAN): aiortc's Google STUN default is
  never used.
- The client's first offer carries what it publishes (audio and/or video, `sendonly` or
  `sendrecv`). The room answers only those m-lines; every stream the client receives arrives in
  offers made by the room (`on_offer`), one `sendonly` m-line per publisher track, whose `msid`
  stream id is the publisher's pid (so a client can group audio and video and label them).
- The room offers to a new participant once its connection is up, so the offer never overtakes
  the answer to its own join. While an offer is outstanding, further changes wait and are sent
  in one new offer after `answer()`. The one client offer taken after joining is an ICE restart
  (`restart_ice(pid, offer_sdp)` -> answer; see `media.icerestart`).
- Numbering: once an m-line has been negotiated, every later offer keeps its negotiated payload
  types and header-extension ids (aiortc's `createOffer` would reset them to its own table, and
  Chromium refuses a moved extension id). A new m-line takes the numbering already used on the
  same connection (same codec -> same payload type, same extension URI -> same id), so a BUNDLE
  group never maps one number to two things; the client may number its first offer as it likes.
- When a publisher leaves, each of its legs sends RTCP BYE (aiortc peers end the track at once)
  and the m-line becomes `inactive` in the next offer. For a client that joined with
  `recycle=True` (browsers: Chromium fires `track` again for a reused m-line, with the new stream
  and the same receiver track), an m-line whose `inactive` has been answered carries the next
  publisher track of the same kind and codec, with a new sender (new SSRCs, the new msid); other
  clients (aiortc peers fire no new `track` for it) always get new m-lines.
- Audio is always forwarded. Video goes to each subscriber from at most `max_video` publishers,
  chosen by most recent speaking: the `ssrc-audio-level` header extension when the publisher
  sends it, otherwise audio activity after a silence (DTX) as a fallback; ties keep join order,
  and a stream already forwarded gets a few seconds' preference so the choice does not flap.
- Loss and keyframes: NACKs towards publishers come from aiortc's own NackGenerator on the
  receiver; subscriber NACKs are answered from the publisher's history (`history_size` packets,
  retransmitted as RTX when negotiated, none older than `RTX_MAX_AGE`: after a long gap, such as
  an ICE restart, the subscriber resumes from a keyframe instead of seconds of old video); PLI
  from subscribers is relayed to the publisher at most once per `keyframe_interval` seconds per
  publisher stream (a request inside the window is sent when the window ends, never dropped); a
  leg that starts or resumes waits for a keyframe and asks for one. Receiver reports: aiortc's
  receiver sends RR to each publisher from the statistics this hook keeps, and REMB from aiortc's
  estimator (media.estimator's C port of it where built) at most once a second unless the estimate
  falls by 3 %; each
  subscriber leg's sender sends SR with the forwarded counts and timestamps and takes the
  subscriber's RR into its stats.
- Bandwidth: each subscriber's own REMB is kept on its leg, and the REMB sent to a publisher is
  the lower of the node's estimate and the weakest fresh subscriber estimate (never below
  `REMB_FLOOR`): with one stream per publisher (no simulcast), the publisher sends what the
  weakest link can take, as it would to a direct peer.
"""
from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import random
import struct
import time
from asyncio.selector_events import _SelectorDatagramTransport
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import pylibsrtp
from aioice import Connection
from aioice.ice import CandidatePair
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    sdp,
)
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from media import Glare, estimator, inlet, outlet, ports
from media import internals as ix
from media.icerestart import IceRestart, RemoteIce, answer_for, read_restart_offer
from media.packets import (
    PacketHistory,
    RtpWriter,
    StreamMap,
    extension_values,
    is_keyframe_start,
    nack_add,
    now_ms,
    ntp_time,
    seq_newer_or_equal,
)
from media.selector import media_selector

logger = logging.getLogger(__name__)
outlet.warn_if_slow(logger)

OfferCallback = Callable[[str, str], Union[Awaitable[None], None]]

SPEAKING_LEVEL = 50  # -dBov; a packet at or above -50 dBov counts as speech
SILENCE_GAP = 0.5  # s without audio packets (DTX) before new activity counts as speaking
STICKY = 3.0  # s of preference for a video already forwarded to a subscriber
# s the room waits for a joining client's own connectivity checks before it acts on the client's
# end-of-candidates (see `_split_end_of_candidates`)
ICE_GRACE = 10.0
REMB_INTERVAL = 1.0  # s between REMB reports to a publisher, unless the estimate falls
REMB_DROP = 0.97  # ... below this share of the last one sent, which is reported at once
REMB_FRESH = 5.0  # s a subscriber's own estimate (REMB) counts towards its publisher's cap
RTX_MAX_AGE = 1.0  # s: a NACKed packet older than this is not sent again (after a gap, a keyframe is)
RESTART_TIMEOUT = 30.0  # s an ICE restart's checks may take before the room gives up on it
REMB_FLOOR = 150_000  # bit/s: one subscriber's bad link never asks a publisher for less than this


class _SilentTrack(MediaStreamTrack):
    """Stands in as the sender's track so aiortc's own send loop sleeps instead of polling."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    async def recv(self) -> None:  # type: ignore[override]
        await asyncio.shield(self._never)


def _split_end_of_candidates(offer_sdp: str) -> tuple[str, bool]:
    """The offer without `a=end-of-candidates`, and whether it had any.

    A browser page without camera/microphone permission hides its host addresses behind mDNS
    `.local` names, which often do not resolve here. With end-of-candidates given up front, aioice
    then drops the component ("Components {1} have no candidate pairs") and fails before the
    client has our answer, so before its checks could teach us its peer-reflexive address. The room
    withholds end-of-candidates until a remote candidate is known or `ICE_GRACE` has passed.
    """
    lines = offer_sdp.splitlines()
    kept = [line for line in lines if line.strip() != "a=end-of-candidates"]
    if len(kept) == len(lines):
        return offer_sdp, False
    return "\r\n".join(kept) + "\r\n", True


async def _end_of_candidates_later(pc: RTCPeerConnection) -> None:
    """Give the withheld end-of-candidates once each ICE transport knows a remote candidate
    (resolved or learnt from an incoming check), or after `ICE_GRACE` seconds."""
    transports = []
    for t in pc.getTransceivers():
        dtls = t.receiver.transport
        if dtls is not None and dtls.transport not in transports:
            transports.append(dtls.transport)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ICE_GRACE
    while loop.time() < deadline and not all(ice.state == "closed" or ice.getRemoteCandidates()
                                              for ice in transports):
        await asyncio.sleep(0.1)
    for ice in transports:
        if ice.state != "closed":
            await ice.addRemoteCandidate(None)


class _Wire:
    """One subscriber connection's way out for forwarded RTP: the `media.outlet.Path` its legs share.

    `ready()` binds the path to what the transport uses now (the nominated ICE pair, its socket,
    the DTLS transport's SRTP session) once the transport is connected, and again after any of
    them changes; the path itself refuses to send while they differ. This does what
    `RTCDtlsTransport._send_rtp` does (`media.internals` checks the source it follows), without
    that path's four nested coroutines per packet.
    """

    __slots__ = ("_dtls", "_nominated", "path")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self._nominated: dict[int, CandidatePair] = ix.get(ix.get(dtls.transport, ix.ICE_CONNECTION), ix.ICE_NOMINATED)
        self.path = outlet.Path(dtls, ix.DTLS_STATE, State.CONNECTED, ix.DTLS_TX_SRTP, self._nominated,
                                outlet.protect_address())

    def ready(self) -> bool:
        """Whether the path can send now, binding it first if the transport's pair or session changed."""
        path = self.path
        if path.valid():
            return True
        dtls = self._dtls
        pair = self._nominated.get(1)
        session = getattr(dtls, ix.DTLS_TX_SRTP)
        if getattr(dtls, ix.DTLS_STATE) is not State.CONNECTED or pair is None or session is None:
            return False
        sock = _socket_of(pair.protocol.transport)
        if sock is None or sock.fileno() == -1:
            return False
        try:
            address = outlet.sockaddr(sock.family, *pair.remote_addr[:2])
        except (OSError, ValueError):
            return False  # not a numeric address of the socket's family: nothing to send to
        path.bind(pair, session, outlet.srtp_address(session), sock, address)
        return path.valid()

    def send(self, data: bytes) -> bool:
        """Protect and send one packet (a retransmission); False if it was dropped."""
        return self.ready() and self.path.send(data)

    def attach(self, connection: Connection) -> None:
        """Send on this ICE connection's selected pair (a new one after an ICE restart)."""
        self._nominated = ix.get(connection, ix.ICE_NOMINATED)
        self.path.attach(self._nominated)


def _socket_of(transport: Any) -> Any:
    """The socket an ICE pair's datagram transport writes, or None. For asyncio's own transport it
    is the socket object itself, whose `fileno()` media/_outlet.c checks before every packet, rather
    than the `TransportSocket` wrapper `get_extra_info` gives (whose `fileno()` is Python code)."""
    if type(transport) is _SelectorDatagramTransport:
        return ix.get(transport, ix.ASYNCIO_SOCK)
    return transport.get_extra_info("socket") if transport is not None else None


def _ignore(data: bytes, component: int) -> None:
    return None


class _Inlet:
    """Takes one connection's incoming SRTP media straight from its ICE connection.

    aiortc queues every datagram and reads it in the DTLS transport's task, several coroutines
    deep. For RTP (not RTCP, not DTLS) once SRTP keys exist, this does what that path does —
    unprotect, parse with the transport's extension map, route to a receiver — in the socket's
    callback, and calls the publication's handler directly. Everything else, and RTP for a
    receiver that is not a publication, takes aiortc's own way. A failure in a handler is logged
    and never reaches asyncio, which would close the socket.

    With the C receive path (`media.inlet`), `fast` unprotects and parses every packet, and
    handles those of the streams its publications registered (`Publication.register`) without
    coming back here; the rest come back unprotected and take the Python path below.
    """

    __slots__ = ("_connection", "_dtls", "_queue_it", "_refused", "_taken", "fast", "handlers")

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self._dtls = dtls
        self.handlers: dict[object, Callable[[RtpPacket, int], None]] = {}
        self._refused = 0
        self._queue_it: Callable[[bytes, int], None] = _ignore
        self._taken: set[int] = set()
        self.fast: Any = inlet.Inlet(inlet.unprotect_address()) if inlet.available() else None
        self.attach(ix.get(dtls.transport, ix.ICE_CONNECTION))

    @property
    def refused(self) -> int:
        """Packets that did not authenticate or parse (both paths)."""
        return self._refused + (self.fast.refused if self.fast is not None else 0)

    def attach(self, connection: Connection) -> None:
        """Take the media of this ICE connection (a new one after an ICE restart)."""
        self._connection = connection
        self._taken = set()
        self._queue_it = getattr(connection, ix.ICE_DATA_RECEIVED)
        setattr(connection, ix.ICE_DATA_RECEIVED, self.data_received)

    def data_received(self, data: bytes, component: int) -> None:
        """aioice's way in, after it tried to read the datagram as STUN."""
        protocols = ix.get(self._connection, ix.ICE_PROTOCOLS)
        if len(self._taken) != len(protocols):
            self._take(protocols)
        self.media_received(data, component)

    def _take(self, protocols: list[Any]) -> None:
        """Have each of the connection's sockets hand RTP and RTCP (first byte 128-191, RFC 7983)
        straight to `media_received`, without aioice's STUN parse first; STUN and DTLS go on as before."""
        for protocol in protocols:
            if id(protocol) in self._taken:
                continue
            self._taken.add(id(protocol))
            original = protocol.datagram_received
            component = protocol.local_candidate.component
            media_received = self.media_received

            def datagram_received(data: bytes, addr: tuple[Any, ...], original: Any = original,
                                  component: int = component) -> None:
                if data and 127 < data[0] < 192:
                    media_received(data, component)
                else:
                    original(data, addr)

            protocol.datagram_received = datagram_received
            self._hand_to_selector(protocol)

    def _hand_to_selector(self, protocol: Any) -> None:
        """On the node's loop (media.selector), the poller reads this socket's SRTP media in C
        from then on, and leaves the rest to asyncio's reader and `datagram_received` above."""
        transport = protocol.transport
        selector = media_selector(asyncio.get_running_loop())
        if self.fast is None or selector is None or type(transport) is not _SelectorDatagramTransport:
            return
        fd = ix.get(transport, ix.ASYNCIO_SOCK).fileno()
        if fd < 0 or transport.is_closing():
            return
        try:
            selector.take(fd, self.fast, self._dtls, self.plain_received)
        except KeyError:  # not registered (any more): asyncio's reader takes it all
            return

    def media_received(self, data: bytes, component: int) -> None:
        srtp = getattr(self._dtls, ix.DTLS_RX_SRTP)
        if srtp is None or len(data) < 12 or not 127 < data[0] < 192 or 192 <= data[1] <= 208:
            self._queue_it(data, component)  # DTLS, RTCP, or media before the keys
            return
        fast = self.fast
        if fast is not None:
            if fast.session is not srtp:
                fast.bind(srtp, outlet.srtp_address(srtp))
            try:
                plain = fast.receive(data)  # None: handled there, or refused
            except Exception:
                logger.exception("forwarding a packet failed")
                return
            if plain is not None:
                self.plain_received(plain)
            return
        try:
            plain = srtp.unprotect(data)
        except pylibsrtp.Error:
            self._refused += 1
            return  # as aiortc: a packet that does not authenticate is dropped
        self.plain_received(plain)

    def plain_received(self, plain: bytes) -> None:
        """The Python path for an unprotected RTP packet (the C paths hand it what they leave)."""
        arrival_time_ms = now_ms()
        try:
            packet = RtpPacket.parse(plain, getattr(self._dtls, ix.DTLS_EXT_MAP))
        except (ValueError, struct.error):
            self._refused += 1
            return  # as aiortc: a packet that does not parse is dropped
        receiver = getattr(self._dtls, ix.DTLS_ROUTER).route_rtp(packet)
        handler = self.handlers.get(receiver)
        if handler is None:
            if receiver is not None:
                asyncio.ensure_future(getattr(receiver, ix.RX_HANDLE_RTP)(packet, arrival_time_ms))
            return
        try:
            handler(packet, arrival_time_ms)
        except Exception:
            logger.exception("forwarding a packet failed")


def _primary_codec(codecs: Sequence[RTCRtpCodecParameters]) -> Optional[RTCRtpCodecParameters]:
    return next((c for c in codecs if not is_rtx(c)), None)


def _same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    if a.mimeType.lower() != b.mimeType.lower() or a.clockRate != b.clockRate:
        return False
    if a.mimeType.lower() == "video/h264":
        return a.parameters.get("packetization-mode", "0") == b.parameters.get("packetization-mode", "0")
    return True


Numbering = tuple[list[RTCRtpCodecParameters], list[RTCRtpHeaderExtensionParameters]]


def _codec_key(c: RTCRtpCodecParameters) -> tuple[object, ...]:
    params = tuple(sorted((str(k), str(v)) for k, v in c.parameters.items() if k != "apt"))
    return (c.mimeType.lower(), c.clockRate, c.channels or 1, params)


class _SessionNumbering:
    """The payload types and extension ids used on one connection, to number new m-lines alike.

    Chromium rejects a BUNDLE group in which one payload type names two codecs or one extension id
    two URIs, so a new m-line reuses the number a codec/URI already has and never takes one that
    is in use for something else.
    """

    def __init__(self, negotiated: Sequence[Numbering], reserved_pts: Sequence[int] = (),
                 reserved_ids: dict[str, int] | None = None) -> None:
        self.pts: dict[tuple[object, ...], int] = {}
        self.used_pts: set[int] = set(reserved_pts)  # the client's own numbers, negotiated or not
        self.ext_ids: dict[str, int] = {}
        self.used_ids: set[int] = set()
        for codecs, exts in negotiated:
            self._learn(codecs, exts)
        for uri, ext_id in (reserved_ids or {}).items():
            self.ext_ids.setdefault(uri, ext_id)
            self.used_ids.add(ext_id)

    def _learn(self, codecs: Sequence[RTCRtpCodecParameters],
               exts: Sequence[RTCRtpHeaderExtensionParameters]) -> None:
        by_pt = {c.payloadType: c for c in codecs}
        for c in codecs:
            key = self._key(c, by_pt)
            if key is not None:
                self.pts.setdefault(key, c.payloadType)
            self.used_pts.add(c.payloadType)
        for e in exts:
            self.ext_ids.setdefault(e.uri, e.id)
            self.used_ids.add(e.id)

    @staticmethod
    def _key(c: RTCRtpCodecParameters, by_pt: dict[int, RTCRtpCodecParameters]) -> tuple[object, ...] | None:
        if not is_rtx(c):
            return _codec_key(c)
        base = by_pt.get(c.parameters.get("apt"))  # type: ignore[arg-type]
        return None if base is None or is_rtx(base) else ("rtx", _codec_key(base))

    def number(self, codecs: Sequence[RTCRtpCodecParameters],
               exts: Sequence[RTCRtpHeaderExtensionParameters]) -> Numbering:
        """Copies of a new m-line's codecs and extensions, renumbered to fit this connection."""
        out_codecs = [copy.deepcopy(c) for c in codecs]
        old_by_pt = {c.payloadType: c for c in codecs}
        new_pt: dict[int, int] = {}
        mine: set[int] = set()
        kept: list[RTCRtpCodecParameters] = []
        for c in sorted(out_codecs, key=is_rtx):  # media codecs first: RTX needs its apt
            old = c.payloadType
            if is_rtx(c):
                apt = c.parameters.get("apt")
                if apt not in new_pt:
                    continue  # its codec was dropped
                c.parameters["apt"] = new_pt[apt]  # type: ignore[index]
            key = self._key(old_by_pt[old], old_by_pt)
            pt = self.pts.get(key) if key is not None else None
            if pt is None or pt in mine:
                if old < 35 or (old not in self.used_pts and old not in mine):
                    pt = old
                else:  # the dynamic range, then the range Chromium also uses
                    pt = next((x for x in (*range(96, 128), *range(35, 64))
                               if x not in self.used_pts and x not in mine), None)
                    if pt is None:
                        continue  # no number left: leave this codec out
            new_pt[old] = pt
            c.payloadType = pt
            mine.add(pt)
            kept.append(c)
        out_codecs = [c for c in out_codecs if any(c is k for k in kept)]  # aiortc's order
        self._learn(out_codecs, [])
        out_exts = []
        for e in exts:
            ext_id = self.ext_ids.get(e.uri)
            if ext_id is None:
                ext_id = e.id if e.id not in self.used_ids else next(
                    (x for x in range(1, 15) if x not in self.used_ids), None)
                if ext_id is None:
                    continue  # no one-byte id left: leave this extension out
            out_exts.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=e.uri))
            self.ext_ids.setdefault(e.uri, ext_id)
            self.used_ids.add(ext_id)
        return out_codecs, out_exts


class Publication:
    """One track a participant publishes: owns the hook on its RTCRtpReceiver."""

    def __init__(self, room: "Room", owner: "Participant", transceiver: RTCRtpTransceiver) -> None:
        self.room = room
        self.owner = owner
        self.kind = transceiver.kind
        self.transceiver = transceiver
        rx = transceiver.receiver
        self.receiver = rx
        self.codec = _primary_codec(ix.get(transceiver, ix.TRANSCEIVER_CODECS))
        # aiortc's own receiver state, filled by receive(); we keep feeding it so RR/REMB flow
        self._codecs: dict[int, RTCRtpCodecParameters] = ix.get(rx, ix.RX_CODECS)
        self._rtx_ssrc: dict[int, int] = ix.get(rx, ix.RX_RTX_SSRC)
        self._streams: dict[int, StreamStatistics] = ix.get(rx, ix.RX_REMOTE_STREAMS)
        self._nack = ix.get(rx, ix.RX_NACK_GENERATOR)
        self._estimator = estimator.adopt(rx)  # REMB: None for audio
        self._rtcp_ssrc: Optional[int] = ix.get(rx, ix.RX_RTCP_SSRC)
        self.ssrc: Optional[int] = None
        self.legs: list[Leg] = []
        self.outlets: list[outlet.Outlet] = []  # the legs' outlets, as the forwarding loop takes them
        self.packets = 0
        # the publisher's packets by sequence number with their arrival (loop time), shared by every
        # leg (NACKs from subscribers)
        self.history: PacketHistory[tuple[RtpPacket | bytes, float]] = PacketHistory(room.history_size)
        # the newest packet of the current stream: (sequence number, timestamp, loop time, Unix time)
        self.newest: tuple[int, int, float, float] = (0, 0, 0.0, 0.0)
        self.plis_sent = 0
        self._last_pli = -1e9
        self._pli_timer: Optional[asyncio.TimerHandle] = None
        self._level_seen = False
        self._last_audio = -1e9
        self._last_remb = (-1e9, 0)  # (loop time, bitrate) of the last REMB sent
        self._registered: Optional[int] = None  # the SSRC the C receive path handles (media.inlet)
        self._loop = asyncio.get_event_loop()

        original_receive = rx.receive

        async def receive(parameters):  # type: ignore[no-untyped-def]
            await original_receive(parameters)
            # aiortc has just started a decoder thread; end it before it gets anything
            ix.get(rx, ix.RX_STOP_DECODER)()
            for leg in self.legs:  # the publisher's payload types are known (anew) from here
                leg.forget_payload_types()

            self.unregister()  # its codecs are known anew: the next packet takes the Python path

        rx.receive = receive  # type: ignore[method-assign]
        setattr(rx, ix.RX_HANDLE_RTP, self._on_rtp)
        if owner.inlet is None:  # one DTLS transport per participant (max-bundle)
            owner.inlet = _Inlet(rx.transport)
        owner.inlet.handlers[rx] = self.on_rtp

    # -- incoming RTP -----------------------------------------------------------------------
    async def _on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """aiortc's way in (its receive task), used until the inlet takes over."""
        self.on_rtp(packet, arrival_time_ms)

    def on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """One packet from the publisher: feed aiortc's receiver statistics, then every leg."""
        rx = self.receiver
        if not getattr(rx, ix.RX_ENABLED):
            return
        est = self._estimator
        if est is not None and packet.extensions.abs_send_time is not None:
            remb = est.add(abs_send_time=packet.extensions.abs_send_time, arrival_time_ms=arrival_time_ms,
                           payload_size=len(packet.payload) + packet.padding_size, ssrc=packet.ssrc)
            if remb is not None:
                self.on_estimate(remb)
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if is_rtx(codec):
            original_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or not isinstance(apt, int) or apt not in self._codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            codec = self._codecs[apt]
        if self._nack is not None and nack_add(self._nack, packet.sequence_number):
            self.send_nack(packet.ssrc)

        now = self._loop.time()
        if packet.ssrc != self.ssrc:
            if self.ssrc is not None:  # the publisher restarted its stream: restart every leg
                for leg in self.legs:
                    leg.restart()
            self.ssrc = packet.ssrc
            self.newest = (packet.sequence_number, packet.timestamp, now, time.time())
        elif seq_newer_or_equal(packet.sequence_number, self.newest[0]):
            self.newest = (packet.sequence_number, packet.timestamp, now, time.time())
        self.packets += 1
        self.history.put(packet.sequence_number, (packet, now))
        if self.kind == "audio":
            self._note_audio(packet, now)
        ext = packet.extensions
        values = extension_values(ext.abs_send_time, ext.audio_level)
        if outlet.fanout(self.outlets, packet.payload, packet.payload_type, packet.marker, packet.sequence_number,
                  packet.timestamp, *values):
            self._arm_waiting(packet, codec, now, values)
        if self.owner.inlet is not None and self.owner.inlet.fast is not None and self._registered != self.ssrc:
            self.register(self.owner.inlet.fast)

    # -- the C receive path (media.inlet) ----------------------------------------------------
    def register(self, fast: Any) -> None:
        """Have the connection's C inlet handle the current stream's next packets."""
        stats = self._streams.get(self.ssrc) if self.ssrc is not None else None
        if stats is None:
            return
        self.unregister()
        media = bytes(1 if pt in self._codecs and not is_rtx(self._codecs[pt]) else 0 for pt in range(128))
        try:
            inlet.sync_extensions(fast, self.receiver.transport)
            fast.add(inlet.Stream(publication=self, ssrc=self.ssrc, receiver=self.receiver, stats=stats,
                                  nack=self._nack, estimator=self._estimator, history=self.history, owner=self.owner,
                                  media=media, audio=self.kind == "audio", speaking_level=SPEAKING_LEVEL,
                                  silence_gap=SILENCE_GAP))
        except ValueError:  # a connection publishing more streams than it holds: the rest stay in Python
            logger.warning("the C receive path takes no more streams on this connection",
                           extra={"event": "media_inlet_full"})
        self._registered = self.ssrc  # decided for this stream either way

    def unregister(self) -> None:
        """Hand the registered stream's packets back to the Python path (codecs changed, a new
        stream, closing)."""
        if self._registered is not None and self.owner.inlet is not None and self.owner.inlet.fast is not None:
            self.owner.inlet.fast.remove(self._registered)
        self._registered = None

    def on_estimate(self, remb: tuple[int, list[int]]) -> None:
        """aiortc's estimator has a new estimate: send REMB when due, capped by the subscribers'."""
        if self._rtcp_ssrc is None:
            return
        bitrate = min(remb[0], self.subscriber_cap(self._loop.time()) or remb[0])
        if self._remb_due(bitrate):
            self._rtcp(getattr(self.receiver, ix.RX_SEND_RTCP)(RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, remb[1]))))

    def send_nack(self, ssrc: Optional[int] = None) -> None:
        """Packets went missing: NACK every packet the generator misses."""
        if self._nack is not None:
            self._rtcp(getattr(self.receiver, ix.RX_SEND_NACK)(self.ssrc if ssrc is None else ssrc,
                                                                sorted(self._nack.missing)))

    def arm_from(self, plain: bytes, now: float, abs_send_time: int, audio_level: int) -> None:
        """The C path's packet left legs WAITING: start them here (see `_arm_waiting`)."""
        try:
            packet = RtpPacket.parse(plain, getattr(self.receiver.transport, ix.DTLS_EXT_MAP))
        except (ValueError, struct.error):
            return  # the C path reads what aiortc reads: not expected, but never an exception here
        codec = self._codecs.get(packet.payload_type)
        if codec is not None:
            self._arm_waiting(packet, codec, now, (abs_send_time, audio_level))

    def recorded(self, seq: int) -> Optional[tuple[RtpPacket, float]]:
        """The packet with this (publisher) sequence number from the history, and when it arrived.
        The C path keeps the unprotected bytes; they are parsed only when a subscriber asks."""
        entry = self.history.get(seq)
        if entry is None or isinstance(entry[0], RtpPacket):
            return entry  # type: ignore[return-value]
        try:
            return RtpPacket.parse(entry[0], getattr(self.receiver.transport, ix.DTLS_EXT_MAP)), entry[1]
        except (ValueError, struct.error):
            return None  # as above: the packet is not resent

    def _arm_waiting(self, packet: RtpPacket, codec: RTCRtpCodecParameters, now: float,
                     values: tuple[int, int]) -> None:
        """Legs the forwarding loop left to us: start them (video at a keyframe), then send them this packet."""
        keyframe = self.kind != "video" or is_keyframe_start(codec.name, packet.payload)
        armed = [leg.outlet for leg in self.legs
                 if leg.outlet is not None and leg.outlet.state == outlet.WAITING and leg.arm(packet, keyframe, now)]
        if armed:
            outlet.fanout(armed, packet.payload, packet.payload_type, packet.marker, packet.sequence_number,
                   packet.timestamp, *values)

    def refresh_outlets(self) -> None:
        """Call when a leg is added, activated or removed: the forwarding loop's list of outlets."""
        self.outlets = [leg.outlet for leg in self.legs if leg.outlet is not None]

    def _rtcp(self, send: Awaitable[None]) -> None:
        """Send feedback (REMB, NACK) to the publisher without holding up the packet."""
        self.room._spawn(send)

    def subscriber_cap(self, now: float) -> Optional[int]:
        """The lowest fresh estimate among the legs that forward this track, or None.

        Without simulcast, one stream serves every subscriber; the publisher is asked not to send
        more than the weakest link takes (but never less than REMB_FLOOR), as a browser would be by
        a direct peer. A paused leg forwards nothing and does not count.
        """
        fresh = [bitrate for at, bitrate in (leg.remb for leg in self.legs if leg.remb and not leg.paused)
                 if now - at <= REMB_FRESH]
        return max(REMB_FLOOR, min(fresh)) if fresh else None

    def _remb_due(self, bitrate: int) -> bool:
        """Whether to send this estimate: once per REMB_INTERVAL, or at once when it falls.

        aiortc's estimator can offer one on every packet while it detects overuse (arrival jitter
        on a busy host is enough), and each REMB costs about as much as a forwarded packet.
        """
        now = self._loop.time()
        last_time, last_bitrate = self._last_remb
        if now - last_time < REMB_INTERVAL and bitrate >= last_bitrate * REMB_DROP:
            return False
        self._last_remb = (now, bitrate)
        return True

    def _note_audio(self, packet: RtpPacket, now: float) -> None:
        level = packet.extensions.audio_level
        if level is not None:
            self._level_seen = True
            if level[1] <= SPEAKING_LEVEL:
                self.owner.last_spoke = now
        elif not self._level_seen and now - self._last_audio > SILENCE_GAP:
            self.owner.last_spoke = now
        self._last_audio = now

    # -- keyframes ----------------------------------------------------------------------------
    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per keyframe_interval (later, not never)."""
        if self.kind != "video":
            return
        wait = self._last_pli + self.room.keyframe_interval - self._loop.time()
        if wait <= 0:
            self._send_pli()
        elif self._pli_timer is None:
            self._pli_timer = self._loop.call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._pli_timer = None
        if self.ssrc is None:  # nothing received yet: the first frame will be a keyframe anyway
            return
        self._last_pli = self._loop.time()
        self.plis_sent += 1
        self._rtcp(getattr(self.receiver, ix.RX_SEND_PLI)(self.ssrc))

    def reception(self) -> tuple[int, int]:
        """(expected, received) packets over the publisher's streams (RTX included), as RR counts them."""
        streams = list(self._streams.values())
        return sum(st.packets_expected for st in streams), sum(st.packets_received for st in streams)

    def close(self) -> None:
        self.unregister()
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None


class Leg:
    """One publisher track forwarded to one subscriber: a sendonly transceiver on its connection."""

    def __init__(self, pub: Publication, sub: "Participant", transceiver: RTCRtpTransceiver) -> None:
        self.pub = pub
        self.sub = sub
        self.transceiver = transceiver
        sender = transceiver.sender
        self.sender = sender
        self.ssrc: int = ix.get(sender, ix.TX_SSRC)
        self.rtx_ssrc: int = ix.get(sender, ix.TX_RTX_SSRC)
        self.active = False
        self.closed = False
        self.paused = False
        self.pt_map: dict[int, int] = {}
        self.rtx_pt: dict[int, int] = {}  # media pt (ours) -> rtx pt
        self.mid: Optional[str] = None
        clock_rate = pub.codec.clockRate if pub.codec else 90000
        self.map = StreamMap(clock_rate, random.randrange(0, 32768), random.randrange(0, 1 << 32))
        self._rtx_seq = random.randrange(0, 32768)
        self._writer = RtpWriter(None, ())  # set with the negotiated MID and extension ids
        self.outlet: Optional[outlet.Outlet] = None  # set when the leg is negotiated
        self.retransmitted = 0
        self.remb: Optional[tuple[float, int]] = None  # (loop time, bit/s) of the subscriber's last REMB
        self._original_rtcp = getattr(sender, ix.TX_HANDLE_RTCP)
        original_send = sender.send

        async def send(parameters: RTCRtpSendParameters) -> None:
            await original_send(parameters)  # aiortc adds this m-line's extension ids to the transport's map
            self._activate(parameters)
            if self.sub.inlet is not None and self.sub.inlet.fast is not None:
                inlet.sync_extensions(self.sub.inlet.fast, sender.transport)

        sender.send = send  # type: ignore[method-assign]
        setattr(sender, ix.TX_HANDLE_RTCP, self._on_rtcp)
        setattr(sender, ix.TX_RUN_RTCP, self._run_rtcp)

    async def _run_rtcp(self) -> None:
        """aiortc's RTCP task for this sender, without its own timer: the Room's tick sends this
        leg's sender report with every other leg's (`send_report`), so a room wakes once a second
        for all of them rather than once per leg. At stop it sends BYE, as aiortc's task does."""
        getattr(self.sender, ix.TX_RTCP_STARTED).set()
        try:
            await asyncio.Event().wait()  # until aiortc's stop() cancels it
        except asyncio.CancelledError:
            pass
        try:
            await getattr(self.sender, ix.TX_SEND_RTCP)([RtcpByePacket(sources=[self.ssrc])])
        finally:
            getattr(self.sender, ix.TX_RTCP_EXITED).set()

    def send_report(self) -> Optional[Awaitable[None]]:
        """This leg's sender report and CNAME, as RTCRtpSender._run_rtcp builds them, if aiortc has
        started the sender and not stopped it: the send, for the caller to run."""
        s = self.sender
        if not getattr(s, ix.TX_RTCP_STARTED).is_set() or getattr(s, ix.TX_RTCP_EXITED).is_set():
            return None
        ntp = getattr(s, ix.TX_NTP_TIMESTAMP)
        packets: list[AnyRtcpPacket] = [RtcpSrPacket(ssrc=self.ssrc, sender_info=RtcpSenderInfo(
            ntp_timestamp=ntp, rtp_timestamp=getattr(s, ix.TX_RTP_TIMESTAMP),
            packet_count=getattr(s, ix.TX_PACKET_COUNT) & 0xFFFFFFFF,
            octet_count=getattr(s, ix.TX_OCTET_COUNT) & 0xFFFFFFFF))]
        setattr(s, ix.TX_LSR, (ntp >> 16) & 0xFFFFFFFF)  # aiortc's RTT from the subscriber's RR uses these
        setattr(s, ix.TX_LSR_TIME, time.time())
        cname = getattr(s, ix.TX_CNAME)
        if cname is not None:
            packets.append(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=self.ssrc, items=[(1, cname.encode("utf8"))])]))
        return getattr(s, ix.TX_SEND_RTCP)(packets)  # type: ignore[no-any-return]

    def _activate(self, parameters: RTCRtpSendParameters) -> None:
        if self.closed:
            return
        self.mid = parameters.muxId
        ours = [c for c in parameters.codecs if not is_rtx(c)]
        for theirs in self.pub._codecs.values() or ([self.pub.codec] if self.pub.codec else []):
            if is_rtx(theirs):
                continue
            match = next((c for c in ours if _same_codec(theirs, c)), None)
            if match is not None:
                self.pt_map[theirs.payloadType] = match.payloadType
        if not self.pt_map and self.pub.codec is not None:
            match = next((c for c in ours if _same_codec(self.pub.codec, c)), None)
            if match is not None:
                self.pt_map[self.pub.codec.payloadType] = match.payloadType
        for c in parameters.codecs:
            if is_rtx(c) and isinstance(c.parameters.get("apt"), int):
                self.rtx_pt[int(c.parameters["apt"])] = c.payloadType
        self._writer = RtpWriter(self.mid, [(e.id, e.uri) for e in parameters.headerExtensions])
        if self.sub.wire is None:  # one DTLS transport per participant (max-bundle)
            self.sub.wire = _Wire(self.sender.transport)
        self.outlet = outlet.Outlet(self.sub.wire.path, self.ssrc)
        self.outlet.set_header(*self._writer.elements)
        self.active = True
        self.pub.refresh_outlets()
        if not self.paused:
            self.outlet.state = outlet.WAITING
            self.pub.request_keyframe()  # a late joiner gets a keyframe fast

    def _payload_type(self, theirs: int) -> Optional[int]:
        """Our payload type for one of the publisher's, looked up once its codec table is known."""
        pt = self.pt_map.get(theirs)
        if pt is None:
            codec = self.pub._codecs.get(theirs)
            ours = ix.get(self.transceiver, ix.TRANSCEIVER_CODECS)
            match = None if codec is None or is_rtx(codec) else \
                next((c for c in ours if not is_rtx(c) and _same_codec(codec, c)), None)
            if match is not None:
                pt = self.pt_map[theirs] = match.payloadType
        return pt

    def forget_payload_types(self) -> None:
        """The publisher's codec table changed: look its payload types up again."""
        if self.outlet is not None:
            self.outlet.clear_pts()
            if self.outlet.state == outlet.ARMED:
                self.outlet.state = outlet.WAITING

    def arm(self, packet: RtpPacket, keyframe: bool, now: float) -> bool:
        """Make this leg's outlet forward from this packet on, if it can; True if it does.

        A leg starts once it is negotiated and not paused, its connection can send, and (video)
        at a keyframe; its numbering continues from where it stopped (`StreamMap`).
        """
        o = self.outlet
        if o is None:
            return False
        if not self.active or self.paused or self.closed:
            o.state = outlet.IDLE
            return False
        pt = self._payload_type(packet.payload_type)
        if pt is None:  # a payload type this subscriber has no codec for: never forwarded
            o.set_pt(packet.payload_type, outlet.NOT_FORWARDED)
            return False
        if not self.sub.wire.ready():  # type: ignore[union-attr]
            return False
        m = self.map
        if not m.started:
            if not keyframe:
                return False
            m.start(packet.sequence_number, packet.timestamp, now)
        elif not seq_newer_or_equal(packet.sequence_number, m.start_seq):
            return False
        o.set_pt(packet.payload_type, pt)
        o.arm(m.start_seq, m.seq_offset, m.ts_offset)
        return True

    def restart(self) -> None:
        """The publisher restarted its stream (a new SSRC): start again at its next keyframe."""
        self.map.stop(*self.pub.newest[:3])
        if self.outlet is not None and self.outlet.state == outlet.ARMED:
            self.outlet.state = outlet.WAITING

    @property
    def sent(self) -> int:
        """Packets forwarded on this leg (retransmissions not counted)."""
        return self.outlet.sent if self.outlet is not None else 0

    @property
    def octets(self) -> int:
        return self.outlet.octets if self.outlet is not None else 0

    def sync_report(self) -> None:
        """Give aiortc's sender the state its sender reports (SR) carry, as its own send loop would.

        The NTP/RTP timestamp pair is the publisher's newest packet as this leg numbers it, so an
        SR maps this leg's timestamps onto wall time as the publisher's own SR does.
        """
        seq, ts, _, wall = self.pub.newest
        mapped = self.map.map(seq, ts)
        if mapped is None or not wall:
            return
        s = self.sender
        setattr(s, ix.TX_NTP_TIMESTAMP, ntp_time(wall))
        setattr(s, ix.TX_RTP_TIMESTAMP, mapped[1])
        setattr(s, ix.TX_OCTET_COUNT, self.octets)
        setattr(s, ix.TX_PACKET_COUNT, self.sent)

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.map.stop(*self.pub.newest[:3])
            if self.outlet is not None:
                self.outlet.state = outlet.IDLE
        elif self.active:
            if self.outlet is not None:
                self.outlet.state = outlet.WAITING
            self.pub.request_keyframe()

    def stop(self) -> None:
        """Forward nothing more (the leg is closing)."""
        self.closed = True
        self.active = False
        self.map.started = False
        if self.outlet is not None:
            self.outlet.state = outlet.IDLE

    async def _on_rtcp(self, packet: AnyRtcpPacket) -> None:
        """RTCP from the subscriber about this leg."""
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            try:
                for seq in packet.lost:
                    self._retransmit(seq)
            except Exception:  # aiortc's transport closes on an exception here: never let one reach it
                logger.exception("retransmitting failed")
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            if not self.paused:
                self.pub.request_keyframe()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, _ = unpack_remb_fci(packet.fci)
            except ValueError:
                return  # another application's feedback
            self.remb = (asyncio.get_event_loop().time(), bitrate)
        else:  # RR/SR into the sender's stats
            await self._original_rtcp(packet)

    def _retransmit(self, seq: int) -> None:
        """Send a packet again from the publication's history, as RTX when the subscriber negotiated it."""
        in_seq = self.map.unmap(seq)
        entry = self.pub.recorded(in_seq) if in_seq is not None else None
        if entry is None or not self.active:
            return
        packet, arrived = entry
        if packet.ssrc != self.pub.ssrc or self.pub._loop.time() - arrived > RTX_MAX_AGE:
            return  # too old to help: the subscriber gets a keyframe instead (it asks, or a restart did)
        pt = self.pt_map.get(packet.payload_type)
        if pt is None or self.sub.wire is None:
            return
        ts = (packet.timestamp + self.map.ts_offset) & 0xFFFFFFFF
        values = extension_values(packet.extensions.abs_send_time, packet.extensions.audio_level)
        rtx_pt = self.rtx_pt.get(pt)
        if rtx_pt is None:
            data = self._writer.write(pt, packet.marker, seq, ts, self.ssrc, packet.payload, *values)
        else:  # RFC 4588: the original sequence number, then the payload
            data = self._writer.write(rtx_pt, packet.marker, self._rtx_seq, ts, self.rtx_ssrc,
                                      seq.to_bytes(2, "big") + packet.payload, *values)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        if self.sub.wire.send(data):
            self.retransmitted += 1

    async def close(self) -> None:
        """Stop forwarding; aiortc's sender.stop() sends RTCP BYE for this leg's SSRC. The m-line
        goes inactive in the next offer, and may carry another publisher's track after that."""
        self.stop()
        await self.sender.stop()
        self.transceiver.direction = "inactive"
        if self.sub.recycle:
            self.sub.retired.append(self.transceiver)


@dataclass(eq=False)
class Participant:
    pid: str
    pc: RTCPeerConnection
    seq: int
    publications: list[Publication] = field(default_factory=list)
    subscriptions: dict[Publication, Leg] = field(default_factory=dict)
    connected: bool = False
    inlet: Optional[_Inlet] = None  # takes the participant's media off its ICE connection
    wire: Optional[_Wire] = None  # sends the media forwarded to the participant
    restart: Optional[IceRestart] = None  # the ICE restart under way, if any
    ice_ufrags: set[str] = field(default_factory=set)  # every ICE username fragment the client used
    offer_pending: bool = False
    dirty: bool = False
    last_spoke: float = -1e9
    # per m-line, the codecs and header extensions of the last completed negotiation
    negotiated: dict[RTCRtpTransceiver, Numbering] = field(default_factory=dict)
    recycle: bool = False  # the client takes a new track on an inactive m-line (it said so when it joined)
    retired: list[RTCRtpTransceiver] = field(default_factory=list)  # legs closed, inactive not yet answered
    free: list[RTCRtpTransceiver] = field(default_factory=list)  # inactive, answered: may be recycled
    # every payload type and extension id the client's own offer used, negotiated or not
    offered_pts: set[int] = field(default_factory=set)
    offered_ids: dict[str, int] = field(default_factory=dict)

    @property
    def restarting(self) -> bool:
        return self.restart is not None

    def remember_offer(self, offer_sdp: str) -> None:
        for media in sdp.SessionDescription.parse(offer_sdp).media:
            self.offered_pts.update(c.payloadType for c in media.rtp.codecs)
            for e in media.rtp.headerExtensions:
                self.offered_ids.setdefault(e.uri, e.id)

    def remember_numbering(self) -> None:
        """Call once a negotiation completes: later offers keep these numbers."""
        for t in self.pc.getTransceivers():
            codecs = ix.get(t, ix.TRANSCEIVER_CODECS)
            if t.mid is not None and codecs:
                self.negotiated[t] = (copy.deepcopy(codecs), copy.deepcopy(ix.get(t, ix.TRANSCEIVER_HEADER_EXTENSIONS)))

    def pin_numbering(self, offer_sdp: str) -> str:
        """The offer aiortc made, with every negotiated m-line's numbers put back (see docstring).

        aiortc's createOffer resets each transceiver's codecs and extensions to its own defaults;
        this restores them on the transceivers (the sender is started from them) and in the SDP.
        """
        desc = sdp.SessionDescription.parse(offer_sdp)
        session = _SessionNumbering(list(self.negotiated.values()), sorted(self.offered_pts), self.offered_ids)
        for t in self.pc.getTransceivers():
            index = ix.get(t, ix.TRANSCEIVER_GET_MLINE_INDEX)()
            if index is None or index >= len(desc.media) or desc.media[index].kind != t.kind:
                continue
            kept = self.negotiated.get(t)
            if kept is not None:
                codecs, exts = copy.deepcopy(kept[0]), copy.deepcopy(kept[1])
            else:
                codecs, exts = session.number(ix.get(t, ix.TRANSCEIVER_CODECS),
                                              ix.get(t, ix.TRANSCEIVER_HEADER_EXTENSIONS))
            ix.put(t, ix.TRANSCEIVER_CODECS, codecs)
            ix.put(t, ix.TRANSCEIVER_HEADER_EXTENSIONS, exts)
            media = desc.media[index]
            media.fmt = [c.payloadType for c in codecs]
            media.rtp.codecs = copy.deepcopy(codecs)
            media.rtp.headerExtensions = copy.deepcopy(exts)
        return str(desc)


class Room:
    """A forwarding unit for one room. See the module docstring for the interface."""

    def __init__(self, ice_servers: Sequence[RTCIceServer], on_offer: OfferCallback, *,
                 max_video: int = 6, keyframe_interval: float = 1.0, history_size: int = 512,
                 reselect_interval: float = 1.0, loopback: bool = False,
                 port_range: tuple[int, int] | None = None, public_address: str | None = None) -> None:
        if ice_servers is None:
            raise ValueError("ice_servers must be given ([] on a LAN): aiortc would use Google's STUN")
        self._ice_servers = list(ice_servers)
        self._on_offer = on_offer
        self.max_video = max_video
        self.keyframe_interval = keyframe_interval
        self.history_size = history_size
        self.reselect_interval = reselect_interval
        self.loopback = loopback
        # UDP ports for host candidates, and a public address advertised beside them (media.ports)
        self.port_range = ports.check_range(port_range) if port_range is not None else None
        self.public_address = ports.check_address(public_address) if public_address else None
        self._participants: dict[str, Participant] = {}
        self._joined = 0
        self._ticker: Optional[asyncio.Task[None]] = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def participants(self) -> list[str]:
        return list(self._participants)

    def participant(self, pid: str) -> Participant:
        try:
            return self._participants[pid]
        except KeyError:
            raise KeyError(f"no participant {pid!r} in this room") from None

    def forwarded_video(self, pid: str) -> set[str]:
        """Publishers whose video is currently forwarded to pid."""
        p = self.participant(pid)
        return {pub.owner.pid for pub, leg in p.subscriptions.items() if pub.kind == "video" and not leg.paused}

    # -- joining and leaving -------------------------------------------------------------------
    async def join(self, pid: str, offer_sdp: str, recycle: bool = False) -> str:
        if pid in self._participants:
            raise ValueError(f"participant {pid!r} already joined")
        config = RTCConfiguration(iceServers=list(self._ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        pc = RTCPeerConnection(config)
        offer_sdp, end_of_candidates = _split_end_of_candidates(offer_sdp)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            with ports.binding(self.port_range):  # candidates are gathered here
                await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            await pc.close()
            raise ValueError(f"cannot answer this offer: {exc}") from exc
        if end_of_candidates:
            self._spawn(_end_of_candidates_later(pc))
        self._joined += 1
        p = Participant(pid, pc, self._joined, dirty=True, recycle=recycle)
        p.remember_numbering()
        p.remember_offer(offer_sdp)
        for t in pc.getTransceivers():
            if t.currentDirection in ("recvonly", "sendrecv") and _primary_codec(ix.get(t, ix.TRANSCEIVER_CODECS)) is not None:
                p.publications.append(Publication(self, p, t))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and not p.connected:
                p.connected = True
                if p.dirty:
                    self._spawn(self._renegotiate(p))

        others = list(self._participants.values())
        self._participants[pid] = p
        if self.loopback:
            for pub in p.publications:
                self._add_leg(pub, p)
        for other in others:
            for pub in p.publications:
                self._add_leg(pub, other)
            for pub in other.publications:
                self._add_leg(pub, p)
        self._select_video()
        for other in others:
            if p.publications:
                await self._renegotiate(other)
        if self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick())
        return ports.advertise_public(pc.localDescription.sdp, self.public_address)

    def pending_offer(self, pid: str) -> Optional[str]:
        """The room's offer to `pid` that is still waiting for an answer (as it was sent), or None:
        for a client that comes back on a new socket after that offer was lost with the old one."""
        p = self._participants.get(pid)
        if p is None or not p.offer_pending or p.pc.signalingState != "have-local-offer":
            return None
        return ports.advertise_public(p.pc.localDescription.sdp, self.public_address)

    async def answer(self, pid: str, answer_sdp: str) -> None:
        p = self.participant(pid)
        if not p.offer_pending:
            raise ValueError(f"no offer is outstanding for {pid!r}")
        await p.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
        p.remember_numbering()
        p.offer_pending = False
        if p.recycle:  # m-lines whose inactive the client has now answered
            p.free += [t for t in p.retired if t.currentDirection == "inactive" and t in p.negotiated]
            p.retired = [t for t in p.retired if t not in p.free]
        if p.dirty:
            await self._renegotiate(p)

    async def restart_ice(self, pid: str, offer_sdp: str) -> str:
        """Answer a client's ICE-restart offer: same session and DTLS, new ICE (media.icerestart).

        Raises `Glare` while an offer from the room is outstanding (the client answers that one
        first and restarts after), ValueError for an offer that is not exactly an ICE restart of
        the session, or when the session's DTLS has already ended (the client joins again).
        """
        p = self.participant(pid)
        pc = p.pc
        if p.offer_pending or pc.signalingState != "stable":
            raise Glare("an offer from the room is outstanding: answer it, then restart")
        if p.restarting:
            raise Glare("an ICE restart is already under way")
        if pc.remoteDescription is None or pc.localDescription is None or not p.publications and not p.subscriptions:
            raise ValueError("this connection has no media session to restart")
        remote = read_restart_offer(offer_sdp, pc.remoteDescription.sdp)
        if remote.ufrag in p.ice_ufrags:
            raise ValueError("the offer does not restart ICE (this username fragment was used before)")
        dtls = next((t.receiver.transport for t in pc.getTransceivers() if t.receiver.transport is not None), None)
        if dtls is None or dtls.state != "connected":
            raise ValueError("the media session has ended: join again")
        restart = p.restart = IceRestart(dtls.transport, self._ice_servers, self.port_range)
        try:
            await restart.gather()
            if self._participants.get(pid) is not p or dtls.state != "connected":
                raise ValueError("the media session ended during the restart")
            negotiated = {t.mid: (ix.get(t, ix.TRANSCEIVER_CODECS), ix.get(t, ix.TRANSCEIVER_HEADER_EXTENSIONS))
                          for t in pc.getTransceivers() if t.mid is not None}
            answer = answer_for(offer_sdp, pc.localDescription.sdp, restart.new, ix.get(dtls, ix.DTLS_ROLE),
                                negotiated)
        except BaseException:
            p.restart = None
            await restart.abandon()
            raise
        p.ice_ufrags.add(remote.ufrag)
        restart.describe_new()  # an offer the room makes meanwhile already carries the new ICE
        self._spawn(self._finish_restart(p, restart, remote))
        return ports.advertise_public(answer, self.public_address)

    async def _finish_restart(self, p: Participant, restart: IceRestart, remote: RemoteIce) -> None:
        def re_point(connection: Connection) -> None:
            if p.inlet is not None:
                p.inlet.attach(connection)
            if p.wire is not None:
                p.wire.attach(connection)

        connected = False
        try:
            connected = await asyncio.wait_for(restart.connect(remote, re_point), RESTART_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        finally:  # also when the room closes meanwhile: the new sockets are never left open
            if p.restart is restart:
                p.restart = None
            if not connected:
                await restart.abandon()
        if connected:
            for pub in p.subscriptions:  # every picture the client gets starts from a keyframe
                pub.request_keyframe()
        else:
            logger.info("ICE restart did not connect", extra={"event": "ice_restart_failed"})

    async def leave(self, pid: str) -> None:
        p = self._participants.pop(pid, None)
        if p is None:
            return
        affected: set[Participant] = set()
        for pub in p.publications:
            pub.close()
            for leg in list(pub.legs):
                leg.sub.subscriptions.pop(pub, None)
                await leg.close()
                affected.add(leg.sub)
            pub.legs.clear()
            pub.refresh_outlets()
        for pub, leg in p.subscriptions.items():
            leg.stop()
            if leg in pub.legs:
                pub.legs.remove(leg)
                pub.refresh_outlets()
        p.subscriptions.clear()
        if p.restart is not None:  # its new connection is not the transport's yet: pc.close() would miss it
            await p.restart.abandon()
        await p.pc.close()
        self._select_video()
        for sub in affected:
            if sub.pid in self._participants:
                await self._renegotiate(sub)

    async def close(self) -> None:
        """Everyone leaves; no offers are sent while closing."""
        self._closing = True
        for pid in list(self._participants):
            await self.leave(pid)
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for task in list(self._tasks):
            task.cancel()

    # -- internals -------------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _add_leg(self, pub: Publication, sub: Participant) -> None:
        t = self._recycled(pub, sub) or sub.pc.addTransceiver(_SilentTrack(pub.kind), direction="sendonly")
        if pub.codec is not None and t not in sub.negotiated:
            caps = RTCRtpSender.getCapabilities(pub.kind).codecs
            prefs = [c for c in caps if c.mimeType.lower() == pub.codec.mimeType.lower()]
            prefs += [c for c in caps if c.mimeType.lower().endswith("/rtx")]
            if prefs:
                t.setCodecPreferences(prefs)
        ix.put(t.sender, ix.TX_STREAM_ID, pub.owner.pid)
        ix.put(t.sender, ix.TX_TRACK_ID, f"{pub.owner.pid}-{pub.kind}-{pub.transceiver.mid}")
        leg = Leg(pub, sub, t)
        pub.legs.append(leg)
        sub.subscriptions[pub] = leg
        sub.dirty = True

    def _recycled(self, pub: Publication, sub: Participant) -> Optional[RTCRtpTransceiver]:
        """A free m-line of the subscriber's for this publication, with a new sender (new SSRCs,
        the publisher's msid in the next offer), or None. Only one negotiated with the same codec:
        its numbering is kept (Participant.pin_numbering)."""
        for t in sub.free:
            primary = _primary_codec(sub.negotiated[t][0])
            if t.kind == pub.kind and pub.codec is not None and primary is not None and _same_codec(primary, pub.codec):
                sub.free.remove(t)
                sender = RTCRtpSender(_SilentTrack(pub.kind), t.sender.transport)  # the stopped one cannot restart
                ix.put(t, ix.TRANSCEIVER_SENDER, sender)
                getattr(t.receiver, ix.RX_SET_RTCP_SSRC)(ix.get(sender, ix.TX_SSRC))
                t.direction = "sendonly"
                return t
        return None

    async def _renegotiate(self, p: Participant) -> None:
        p.dirty = True
        if p.offer_pending or not p.connected or p.pid not in self._participants or self._closing:
            return
        p.dirty = False
        p.offer_pending = True
        offer = await p.pc.createOffer()
        offer_sdp = p.pin_numbering(offer.sdp)
        await p.pc.setLocalDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        result = self._on_offer(p.pid, ports.advertise_public(p.pc.localDescription.sdp, self.public_address))
        if inspect.isawaitable(result):
            await result

    def _select_video(self) -> None:
        video = [pub for q in self._participants.values() for pub in q.publications if pub.kind == "video"]
        for sub in self._participants.values():
            def rank(pub: Publication) -> tuple[float, int]:
                leg = sub.subscriptions.get(pub)
                bonus = STICKY if leg is not None and not leg.paused else 0.0
                return (-(pub.owner.last_spoke + bonus), pub.owner.seq)

            chosen = set(sorted((v for v in video if v.owner is not sub or self.loopback), key=rank)[: self.max_video])
            for pub, leg in sub.subscriptions.items():
                if pub.kind == "video":
                    leg.set_paused(pub not in chosen)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.reselect_interval)
            try:
                self._select_video()
                for p in self._participants.values():
                    for leg in p.subscriptions.values():
                        leg.sync_report()
                        report = leg.send_report()
                        if report is not None:
                            self._spawn(report)
            except Exception:  # never let selection kill the ticker
                logger.exception("video selection or sender reports failed")
