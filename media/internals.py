"""Every private aiortc/aioice name the forwarding unit relies on, in one place.

aiortc has no public API for forwarding RTP without decoding (see
`research/anchors-webrtc.md` §1), so `media.sfu` reaches into a few private attributes of
`RTCRtpReceiver`, `RTCRtpSender`, `RTCRtpTransceiver` and `RTCDtlsTransport`. They are all
named here and only here; `check()` verifies that they still exist with the expected shape, and
`tests/media/test_internals.py` runs it against the pinned version. If aiortc is upgraded, that
test fails loudly and names what moved.
"""
from __future__ import annotations

import inspect
from typing import Any

import aiortc
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import NackGenerator, RTCRtpReceiver, StreamStatistics
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from media.packets import (
    NACK_WINDOW,  # aiortc.rtp.RTP_HISTORY_SIZE, as media/_inlet.c and media.packets have it
)

PINNED_AIORTC = "1.16.0"
PINNED_AIOICE = "0.13"
PINNED_PYLIBSRTP = "1.0.0"

# --- RTCRtpReceiver (name-mangled instance attributes set in __init__) -----------------------
RX_CODECS = "_RTCRtpReceiver__codecs"  # dict[int, RTCRtpCodecParameters] by payload type
RX_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"  # dict[rtx ssrc, media ssrc]
RX_NACK_GENERATOR = "_RTCRtpReceiver__nack_generator"  # NackGenerator | None (audio)
RX_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"  # dict[ssrc, StreamStatistics] -> RR
RX_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"  # our SSRC for RTCP feedback, None until set
RX_SET_RTCP_SSRC = "_set_rtcp_ssrc"  # method (ssrc): the RTCP SSRC aiortc gives a transceiver's receiver
RX_BITRATE_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"  # REMB, None for audio
RX_STOP_DECODER = "_RTCRtpReceiver__stop_decoder"  # method: end the decoder thread
RX_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"  # threading.Thread | None
# methods replaced or called per instance
RX_ENABLED = "_enabled"  # bool, set from the negotiated direction
RX_HANDLE_RTP = "_handle_rtp_packet"  # async (packet, arrival_time_ms) -> None
RX_SEND_RTCP = "_send_rtcp"  # async (packet) -> None
RX_SEND_NACK = "_send_rtcp_nack"  # async (media_ssrc, lost) -> None
RX_SEND_PLI = "_send_rtcp_pli"  # async (media_ssrc) -> None

# --- RTCRtpSender -----------------------------------------------------------------------------
TX_SSRC = "_ssrc"
TX_RTX_SSRC = "_rtx_ssrc"
TX_STREAM_ID = "_stream_id"
TX_TRACK_ID = "_track_id"
TX_HANDLE_RTCP = "_handle_rtcp_packet"  # async (packet) -> None, replaced per instance
# sender-report state read by RTCRtpSender._run_rtcp (we keep it current ourselves)
TX_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
TX_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
TX_OCTET_COUNT = "_RTCRtpSender__octet_count"
TX_PACKET_COUNT = "_RTCRtpSender__packet_count"
# a leg's sender reports: media.sfu's Room sends every leg's SR on its one-second tick (Leg.send_report),
# as RTCRtpSender._run_rtcp builds them, and each leg's _run_rtcp only waits to send BYE at stop
TX_RUN_RTCP = "_run_rtcp"  # async () -> None, replaced per instance
TX_SEND_RTCP = "_send_rtcp"  # async (packets) -> None
TX_RTCP_STARTED = "_RTCRtpSender__rtcp_started"  # asyncio.Event, awaited by stop()
TX_RTCP_EXITED = "_RTCRtpSender__rtcp_exited"  # asyncio.Event, awaited by stop()
TX_LSR = "_RTCRtpSender__lsr"  # the last SR's middle NTP bits and when it was sent: RTT from RR
TX_LSR_TIME = "_RTCRtpSender__lsr_time"
TX_CNAME = "_RTCRtpSender__cname"
TX_RUN_RTCP_SOURCE = ("self.__rtcp_started.set()", "await asyncio.sleep(0.5 + random.random())",
                      "self.__lsr = ((self.__ntp_timestamp) >> 16) & 0xFFFFFFFF", "self.__lsr_time = time.time()",
                      "items=[(1, self.__cname.encode(\"utf8\"))]", "packet = RtcpByePacket(sources=[self._ssrc])",
                      "self.__rtcp_exited.set()")

# --- RTCDtlsTransport -------------------------------------------------------------------------
DTLS_SEND_RTP = "_send_rtp"  # async (bytes) -> None: SRTP/SRTCP protect and send
# media.sfu writes forwarded RTP (and retransmissions) itself, as _send_rtp does but without its
# await chain: it checks the state, protects with the transport's SRTP session and writes to the
# ICE connection's selected pair. Its source is checked below (DTLS_SEND_RTP_SOURCE); the DTLS
# transport's own packet/byte counters (getStats "transport") do not count those packets
DTLS_STATE = "_state"  # rtcdtlstransport.State; forwarded RTP only while State.CONNECTED
DTLS_TX_SRTP = "_tx_srtp"  # pylibsrtp.Session, set when the handshake completes
DTLS_ROLE = "_role"  # "auto" until the handshake starts, then "client" or "server" (media.icerestart)
DTLS_RX_SRTP = "_rx_srtp"  # pylibsrtp.Session for incoming SRTP, set when the handshake completes
DTLS_EXT_MAP = "_rtp_header_extensions_map"  # aiortc.rtp.HeaderExtensionsMap of the transport
DTLS_ROUTER = "_rtp_router"  # RtpRouter: route_rtp(packet) -> the receiver for this packet, or None
# media.sfu takes incoming SRTP straight from the ICE connection (see ICE_DATA_RECEIVED) and then
# does what RTCDtlsTransport._recv_next and _handle_rtp_data do for it
DTLS_RECV_SOURCE = ("elif first_byte > 127 and first_byte < 192 and self._rx_srtp:", "if is_rtcp(data):",
                    "data = self._rx_srtp.unprotect(data)",
                    "packet = RtpPacket.parse(data, self._rtp_header_extensions_map)",
                    "receiver = self._rtp_router.route_rtp(packet)",
                    "await receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)")
DTLS_SEND_RTP_SOURCE = ("if self._state != State.CONNECTED:", "data = self._tx_srtp.protect(data)",
                        "await self.transport._send(data)")

# --- pylibsrtp.Session ------------------------------------------------------------------------
# media.sfu protects forwarded RTP in its own buffer with `lib.srtp_protect(ctx, buffer, len_ptr)`
# from pylibsrtp's cffi binding, on the session's libsrtp context, as Session.protect does
# --- what media/_inlet.c reads and writes (the C receive path; media.inlet) -------------------
EXT_MAP_IDS = "_HeaderExtensionsMap__ids"  # HeaderExtensions of an aiortc HeaderExtensionsMap: ids by field
# StreamStatistics and NackGenerator attributes it keeps as their add() does (the estimator's add()
# is called with the positional order checked in _METHODS)
STATS_ATTRS = ("base_seq", "max_seq", "cycles", "packets_received", "_clockrate", "_jitter_q4", "_last_arrival",
               "_last_timestamp")
NACK_ATTRS = ("max_seq", "missing")
INLET_SOURCE = {
    "StreamStatistics.add": ("in_order = self.max_seq is None or uint16_gt(", "self.packets_received += 1",
                             "arrival = int(time.time() * self._clockrate)", "self.cycles += 1 << 16",
                             "if packet.timestamp != self._last_timestamp and self.packets_received > 1:",
                             "self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)"),
    "NackGenerator.add": ("self.missing.add(seq)", "self.missing.discard(packet.sequence_number)",
                          "self.truncate()"),
    "NackGenerator.truncate": ("min_seq = uint16_add(self.max_seq, -RTP_HISTORY_SIZE)",),
}
# --- aiortc's RemoteBitrateEstimator, where media._estimator is not built (media.estimator) ----
EST_RATE_COUNTER = "incoming_bitrate"  # its RateCounter, replaced by media.estimator._RateCounter
RATE_COUNTER_ATTRS = ("_window_size", "_scale", "_origin_ms", "_origin_index")
RATE_COUNTER_SOURCE = ("new_origin_ms = now_ms - self._window_size + 1", "self._origin_ms += 1")
SRTP_BUFFER = 1500  # pylibsrtp.Session's buffer: longer packets are refused, so media/_inlet.c refuses them too

SRTP_CONTEXT = "_srtp"  # cffi `srtp_t *` of a pylibsrtp.Session; [0] is the libsrtp context
# media/_outlet.c calls srtp_protect by the address pylibsrtp's binding gives, as this C type:
SRTP_PROTECT_TYPE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
SRTP_PROCESS_SOURCE = ("len_p[0] = len(data)", "_srtp_assert(func(self._srtp[0], self._cdata, len_p))",
                       "return self._buffer[0 : len_p[0]]")

# --- RTCIceTransport and aioice ----------------------------------------------------------------
ICE_CONNECTION = "_connection"  # aioice.Connection of an RTCIceTransport
ICE_NOMINATED = "_nominated"  # dict[component, CandidatePair]: the selected pair per component
# CandidatePair.protocol (StunProtocol) and CandidatePair.remote_addr are public attributes;
# StunProtocol.send_data is `self.transport.sendto(data, addr)`, a synchronous datagram write
# (an asyncio transport, or aioice.turn.TurnTransport for a relayed candidate)
ICE_SEND_SOURCE = {"Connection.sendto": ("active_pair = self._nominated.get(component)",
                                         "await active_pair.protocol.send_data(data, active_pair.remote_addr)"),
                   "StunProtocol.send_data": ("self.transport.sendto(data, addr)",)}

# every datagram that is not STUN reaches `Connection.data_received(data, component)` through the
# instance attribute (StunProtocol calls `self.receiver.data_received`); media.sfu replaces it per
# connection, handles SRTP media itself and passes everything else on (to aiortc's queue)
ICE_DATA_RECEIVED = "data_received"
# ... and takes RTP/RTCP straight from each socket's StunProtocol (asyncio calls the instance's
# `datagram_received`) before aioice's STUN parse, which would only fail on them
ICE_PROTOCOLS = "_protocols"  # list[StunProtocol] of an aioice Connection, one per local socket
ICE_DATA_SOURCE = {"StunProtocol.datagram_received": ("self.receiver.data_received(data, self.local_candidate.component)",),
                   "Connection.data_received": ("self._queue.put_nowait((data, component))",)}

# media.outlet.Path sends on the socket of asyncio's datagram transport itself (media.sfu._socket_of):
# its fileno() is a C call, where the TransportSocket wrapper's is Python code, once per packet and leg
ASYNCIO_SOCK = "_sock"  # set in asyncio.selector_events._SelectorTransport.__init__

# ICE restart (media.icerestart): a new aioice Connection is put under a running RTCIceTransport
ICE_QUEUE = "_queue"  # asyncio.Queue of (data, component) that Connection.recv reads
ICE_TRANSPORT_POLICY = "_transport_policy"  # aioice.TransportPolicy the connection was made with
ICE_TRANSPORT_RECV = "_recv"  # RTCIceTransport: bound Connection.recv the DTLS transport calls
ICE_TRANSPORT_SEND = "_send"  # RTCIceTransport: bound Connection.send
ICE_TRANSPORT_MONITOR = "_RTCIceTransport__monitor_task"  # task that watches for ConnectionClosed
ICE_TRANSPORT_WATCH = "_monitor"  # coroutine method: that watch
ICE_TRANSPORT_SET_STATE = "_RTCIceTransport__setState"  # method (state): sets state, emits statechange
ICE_TRANSPORT_SOURCE = {"RTCIceTransport.__init__": ("self._connection = gatherer._connection",
                                                     "self._recv = self._connection.recv",
                                                     "self._send = self._connection.send"),
                        "RTCIceTransport._monitor": ("event = await self._connection.get_event()",
                                                     'if self.state == "completed":'),
                        "Connection.recvfrom": ("result = await self._queue.get()",),
                        "Connection.close": ("self._queue.put_nowait(None)",)}

# --- RTCRtpTransceiver ------------------------------------------------------------------------
TRANSCEIVER_CODECS = "_codecs"  # negotiated codecs, set by setRemoteDescription
# negotiated header extensions, set by setRemoteDescription. RTCPeerConnection.createOffer resets
# both to aiortc's defaults; media.sfu puts the negotiated ones back (and reads/writes both)
TRANSCEIVER_HEADER_EXTENSIONS = "_headerExtensions"
TRANSCEIVER_SENDER = "_RTCRtpTransceiver__sender"  # its sender (read-only property): replaced to recycle an m-line
TRANSCEIVER_GET_MLINE_INDEX = "_get_mline_index"  # method () -> int | None, set by createOffer

# --- aioice.Connection (media.ports) ----------------------------------------------------------
# not accessed by name, but relied on: host candidates are bound by this method with
# `loop.create_datagram_endpoint(..., local_addr=(address, 0))` on the running loop, which
# media.ports wraps to pick ports from the media range
ICE_GATHER_HOST = "get_component_candidates"
ICE_GATHER_SOURCE = ("asyncio.get_running_loop()", "loop.create_datagram_endpoint(", "local_addr=(address, 0)")

_RECEIVER_ATTRS = (RX_ENABLED, RX_CODECS, RX_RTX_SSRC, RX_NACK_GENERATOR, RX_REMOTE_STREAMS, RX_RTCP_SSRC,
                   RX_BITRATE_ESTIMATOR, RX_DECODER_THREAD)
_SENDER_ATTRS = (TX_SSRC, TX_RTX_SSRC, TX_STREAM_ID, TX_TRACK_ID, TX_NTP_TIMESTAMP,
                 TX_RTP_TIMESTAMP, TX_OCTET_COUNT, TX_PACKET_COUNT, TX_RTCP_STARTED, TX_RTCP_EXITED, TX_LSR,
                 TX_LSR_TIME, TX_CNAME)
_METHODS: tuple[tuple[type, str, tuple[str, ...]], ...] = (
    (RTCRtpReceiver, RX_HANDLE_RTP, ("self", "packet", "arrival_time_ms")),
    (RTCRtpReceiver, RX_SEND_RTCP, ("self", "packet")),
    (RTCRtpReceiver, RX_SEND_NACK, ("self", "media_ssrc", "lost")),
    (RTCRtpReceiver, RX_SEND_PLI, ("self", "media_ssrc")),
    (RTCRtpReceiver, RX_STOP_DECODER, ("self",)),
    (RTCRtpReceiver, RX_SET_RTCP_SSRC, ("self", "ssrc")),
    (RTCRtpReceiver, "receive", ("self", "parameters")),
    (RTCRtpSender, TX_HANDLE_RTCP, ("self", "packet")),
    (RTCRtpSender, "send", ("self", "parameters")),
    (RTCDtlsTransport, DTLS_SEND_RTP, ("self", "data")),
    (RTCRtpSender, TX_RUN_RTCP, ("self",)),
    (RTCRtpSender, TX_SEND_RTCP, ("self", "packets")),
    (RTCRtpTransceiver, TRANSCEIVER_GET_MLINE_INDEX, ("self",)),
    (StreamStatistics, "add", ("self", "packet")),
    (NackGenerator, "add", ("self", "packet")),
    (RemoteBitrateEstimator, "add", ("self", "arrival_time_ms", "abs_send_time", "payload_size", "ssrc")),
)


def get(obj: object, name: str) -> Any:
    return getattr(obj, name)


def put(obj: object, name: str, value: Any) -> None:
    setattr(obj, name, value)


def problems() -> list[str]:
    """Everything that differs from what `media.sfu` expects (empty when all is well)."""
    import asyncio

    import aioice

    found: list[str] = []
    if aiortc.__version__ != PINNED_AIORTC:
        found.append(f"aiortc is {aiortc.__version__}, media/ is pinned to {PINNED_AIORTC}")
    if not aioice.__version__.startswith(PINNED_AIOICE):
        found.append(f"aioice is {aioice.__version__}, media/ is pinned to {PINNED_AIOICE}.x")
    found.extend(_srtp_problems())
    for cls, name, params in _METHODS:
        fn = getattr(cls, name, None)
        if fn is None:
            found.append(f"{cls.__name__}.{name} is gone")
            continue
        got = tuple(inspect.signature(fn).parameters)
        if got != params:
            found.append(f"{cls.__name__}.{name} signature is {got}, expected {params}")
        if not inspect.iscoroutinefunction(fn) and name not in (RX_STOP_DECODER, "add", TRANSCEIVER_GET_MLINE_INDEX,
                                                                                  RX_SET_RTCP_SSRC):
            found.append(f"{cls.__name__}.{name} is no longer a coroutine function")

    found.extend(_source_problems())

    gather = getattr(aioice.Connection, ICE_GATHER_HOST, None)
    if gather is None:
        found.append(f"aioice.Connection.{ICE_GATHER_HOST} is gone (media.ports binds host candidates through it)")
    else:
        source = inspect.getsource(gather)
        for needle in ICE_GATHER_SOURCE:
            if needle not in source:
                found.append(f"aioice.Connection.{ICE_GATHER_HOST} no longer contains {needle!r}: "
                             "media.ports cannot keep host candidates in the media port range")

    # instance attributes only exist after __init__: build throwaway objects
    async def build() -> None:
        from aiortc.rtcdtlstransport import RTCCertificate
        from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport

        ice = RTCIceTransport(RTCIceGatherer(iceServers=[]))
        dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
        for kind in ("audio", "video"):
            rx = RTCRtpReceiver(kind, dtls)
            tx = RTCRtpSender(kind, dtls)
            for attr in _RECEIVER_ATTRS:
                if not hasattr(rx, attr):
                    found.append(f"RTCRtpReceiver({kind}) has no attribute {attr}")
            for attr in _SENDER_ATTRS:
                if not hasattr(tx, attr):
                    found.append(f"RTCRtpSender({kind}) has no attribute {attr}")
            t = RTCRtpTransceiver(kind, rx, tx)
            if getattr(t, TRANSCEIVER_SENDER, None) is not tx or t.sender is not tx:
                found.append(f"RTCRtpTransceiver no longer keeps its sender in {TRANSCEIVER_SENDER}")
            for attr in (TRANSCEIVER_CODECS, TRANSCEIVER_HEADER_EXTENSIONS):
                if not isinstance(getattr(t, attr, None), list):
                    found.append(f"RTCRtpTransceiver has no list attribute {attr}")
            if not callable(getattr(t, TRANSCEIVER_GET_MLINE_INDEX, None)):
                found.append(f"RTCRtpTransceiver has no method {TRANSCEIVER_GET_MLINE_INDEX}")
        if not hasattr(rx, RX_STOP_DECODER):
            found.append(f"RTCRtpReceiver has no method {RX_STOP_DECODER}")
        for attr in (DTLS_STATE, DTLS_ROLE, DTLS_TX_SRTP, DTLS_RX_SRTP, DTLS_EXT_MAP, DTLS_ROUTER):
            if not hasattr(dtls, attr):
                found.append(f"RTCDtlsTransport has no attribute {attr}")
        connection = getattr(ice, ICE_CONNECTION, None)
        for attr in (ICE_TRANSPORT_RECV, ICE_TRANSPORT_SEND, ICE_TRANSPORT_MONITOR, ICE_TRANSPORT_WATCH,
                     ICE_TRANSPORT_SET_STATE):
            if not hasattr(ice, attr):
                found.append(f"RTCIceTransport has no attribute {attr} (media.icerestart)")
        for attr in (ICE_QUEUE, ICE_TRANSPORT_POLICY):
            if not hasattr(connection, attr):
                found.append(f"aioice Connection has no attribute {attr} (media.icerestart)")
        if not callable(getattr(getattr(dtls, DTLS_ROUTER, None), "route_rtp", None)):
            found.append(f"RTCDtlsTransport.{DTLS_ROUTER} has no route_rtp")
        if not isinstance(getattr(connection, ICE_PROTOCOLS, None), list):
            found.append(f"RTCIceTransport.{ICE_CONNECTION}.{ICE_PROTOCOLS} is not a list of socket protocols")
        if not isinstance(getattr(connection, ICE_NOMINATED, None), dict):
            found.append(f"RTCIceTransport.{ICE_CONNECTION}.{ICE_NOMINATED} is not a dict of selected pairs")
        await ice.stop()

    asyncio.run(build()) if not _loop_running() else found.append("check() needs no running loop")
    return found


def _source_problems() -> list[str]:
    """The send path media.sfu reproduces, checked in aiortc's and aioice's own source."""
    from asyncio.selector_events import _SelectorDatagramTransport

    from aioice.ice import CandidatePair, Connection, StunProtocol
    from aiortc.rtcdtlstransport import State
    from aiortc.rtcicetransport import RTCIceTransport

    found = []
    sources = {"RTCDtlsTransport._send_rtp": (getattr(RTCDtlsTransport, DTLS_SEND_RTP), DTLS_SEND_RTP_SOURCE),
               "Connection.sendto": (Connection.sendto, ICE_SEND_SOURCE["Connection.sendto"]),
               "StunProtocol.send_data": (StunProtocol.send_data, ICE_SEND_SOURCE["StunProtocol.send_data"]),
               "RTCDtlsTransport._recv_next": (RTCDtlsTransport._recv_next, DTLS_RECV_SOURCE[:3]),
               "RTCDtlsTransport._handle_rtp_data": (RTCDtlsTransport._handle_rtp_data, DTLS_RECV_SOURCE[3:]),
               "StunProtocol.datagram_received": (StunProtocol.datagram_received,
                                                  ICE_DATA_SOURCE["StunProtocol.datagram_received"]),
               "Connection.data_received": (getattr(Connection, ICE_DATA_RECEIVED),
                                            ICE_DATA_SOURCE["Connection.data_received"]),
               "RTCIceTransport.__init__": (RTCIceTransport.__init__, ICE_TRANSPORT_SOURCE["RTCIceTransport.__init__"]),
               "RTCIceTransport._monitor": (getattr(RTCIceTransport, ICE_TRANSPORT_WATCH),
                                            ICE_TRANSPORT_SOURCE["RTCIceTransport._monitor"]),
               "Connection.recvfrom": (Connection.recvfrom, ICE_TRANSPORT_SOURCE["Connection.recvfrom"]),
               "RTCRtpSender._run_rtcp": (getattr(RTCRtpSender, TX_RUN_RTCP), TX_RUN_RTCP_SOURCE),
               "Connection.close": (Connection.close, ICE_TRANSPORT_SOURCE["Connection.close"]),
               "_SelectorDatagramTransport.__init__": (_SelectorDatagramTransport.__mro__[1].__init__,
                                                       (f"self.{ASYNCIO_SOCK} = sock",))}
    for name, (fn, needles) in sources.items():
        source = inspect.getsource(fn)
        found += [f"{name} no longer contains {n!r}: media.sfu's send path must follow it" for n in needles
                  if n not in source]
    from aiortc import rtp
    from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics

    for name, needles in INLET_SOURCE.items():
        cls, method = name.split(".")
        source = inspect.getsource(getattr({"StreamStatistics": StreamStatistics, "NackGenerator": NackGenerator}[cls],
                                           method))
        found += [f"{name} no longer contains {n!r}: media/_inlet.c keeps its state as it did" for n in needles
                  if n not in source]
    from aiortc.rate import RateCounter, RemoteBitrateEstimator

    found += [f"RateCounter._erase_old no longer contains {n!r}: media.estimator._RateCounter skips that walk"
              for n in RATE_COUNTER_SOURCE if n not in inspect.getsource(RateCounter._erase_old)]
    counter = getattr(RemoteBitrateEstimator(), EST_RATE_COUNTER, None)
    if type(counter) is not RateCounter:
        found.append(f"RemoteBitrateEstimator.{EST_RATE_COUNTER} is no longer a RateCounter")
    else:
        counter.add(1, 0)
        found += [f"RateCounter has no attribute {a}" for a in RATE_COUNTER_ATTRS if not hasattr(counter, a)]
    if getattr(rtp, "RTP_HISTORY_SIZE", None) != NACK_WINDOW:
        found.append(f"aiortc.rtp.RTP_HISTORY_SIZE is not {NACK_WINDOW}: media/_inlet.c's NACK window")
    stats, nack, ext_map = StreamStatistics(90000), NackGenerator(), rtp.HeaderExtensionsMap()
    found += [f"StreamStatistics has no attribute {a}" for a in STATS_ATTRS if not hasattr(stats, a)]
    found += [f"NackGenerator has no attribute {a}" for a in NACK_ATTRS if not hasattr(nack, a)]
    ids = getattr(ext_map, EXT_MAP_IDS, None)
    if not all(hasattr(ids, a) for a in ("abs_send_time", "audio_level")):
        found.append(f"HeaderExtensionsMap has no {EXT_MAP_IDS} with abs_send_time and audio_level")
    if not hasattr(State, "CONNECTED"):
        found.append("aiortc.rtcdtlstransport.State has no CONNECTED")
    if not isinstance(inspect.getattr_static(CandidatePair, "remote_addr", None), property):
        found.append("aioice CandidatePair.remote_addr is no longer a property")
    if "self.protocol = protocol" not in inspect.getsource(CandidatePair.__init__):
        found.append("aioice CandidatePair no longer keeps its protocol in .protocol")
    return found


def _srtp_problems() -> list[str]:
    """The libsrtp call media.sfu makes through pylibsrtp's binding, checked on a real session."""
    from importlib.metadata import version

    import pylibsrtp
    from pylibsrtp._binding import ffi, lib

    found = []
    if version("pylibsrtp") != PINNED_PYLIBSRTP:
        found.append(f"pylibsrtp is {version('pylibsrtp')}, media/ is pinned to {PINNED_PYLIBSRTP}")
    source = inspect.getsource(pylibsrtp.Session)
    found += [f"pylibsrtp.Session no longer contains {n!r}: media.sfu protects as it did" for n in SRTP_PROCESS_SOURCE
              if n not in source]
    for function, caller in (("srtp_protect", "media/_outlet.c"), ("srtp_unprotect", "media/_inlet.c")):
        try:
            signature = ffi.typeof(ffi.addressof(lib, function)).cname
        except (AttributeError, TypeError, ffi.error) as exc:
            signature = repr(exc)
        if signature != SRTP_PROTECT_TYPE:  # both take (srtp_t, void *packet, int *length)
            found.append(f"{function} is {signature}, {caller} calls it as {SRTP_PROTECT_TYPE}")
    key = bytes(range(30))
    if len(getattr(pylibsrtp.Session(), "_cdata", b"")) != SRTP_BUFFER:
        found.append(f"pylibsrtp.Session's buffer is not {SRTP_BUFFER} bytes: media/_inlet.c refuses what it refuses")
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    packet = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + b"payload"
    try:
        cdata = ffi.new("char[]", 2048)
        length = ffi.new("int *", len(packet))
        ffi.buffer(cdata)[0:len(packet)] = packet
        if lib.srtp_protect(getattr(tx, SRTP_CONTEXT)[0], cdata, length) != 0:
            found.append("libsrtp's srtp_protect refused a packet through pylibsrtp's binding")
        elif rx.unprotect(ffi.buffer(cdata)[0:length[0]]) != packet:
            found.append("a packet protected through pylibsrtp's binding does not unprotect to itself")
    except (AttributeError, TypeError, pylibsrtp.Error) as exc:
        found.append(f"protecting through pylibsrtp's binding failed: {exc!r}")
    return found


def _loop_running() -> bool:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def check() -> None:
    """Raise RuntimeError naming every aiortc internal that moved."""
    found = problems()
    if found:
        raise RuntimeError("aiortc internals used by media/ changed:\n  " + "\n  ".join(found))
