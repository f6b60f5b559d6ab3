"""ICE restart for a connection that is already up: new ICE credentials and candidates, same DTLS.

aiortc starts an `RTCIceTransport` once and ignores new ICE credentials in later descriptions, so
a client's ICE-restart offer (`createOffer({iceRestart: true})` after a network change) cannot be
answered by aiortc itself. This module does it beside aiortc:

- `read_restart_offer` checks that a client's re-offer is exactly an ICE restart of the session
  in place (same m-lines, same mids, new ICE username fragment) and takes its ICE parameters;
- `answer_for` writes the answer from the connection's current local description, with the new
  local ICE parameters and candidates and the DTLS role kept;
- `IceRestart` gathers a new aioice `Connection` and runs its connectivity checks beside the old
  one; once they succeed it puts the new one in place under aiortc's ICE transport (the DTLS
  session, SRTP keys, m-lines and every forwarded leg go on) and closes the old one.

Every private aiortc/aioice name used is in `media.internals` and checked by its test.
"""
from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aioice import Candidate, Connection
from aiortc import RTCIceServer, sdp
from aiortc.rtcicetransport import (
    RTCIceParameters,
    RTCIceTransport,
    candidate_from_aioice,
    candidate_to_aioice,
    connection_kwargs,
)
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
)

from media import internals as ix
from media import ports

MAX_OFFER = 256 * 1024  # characters: far above any session this node makes


@dataclass(frozen=True)
class RemoteIce:
    """The client's new ICE parameters from its restart offer."""

    ufrag: str
    pwd: str
    candidates: tuple[Candidate, ...]


def read_restart_offer(offer_sdp: str, current_remote_sdp: str) -> RemoteIce:
    """The new ICE parameters of a client offer that restarts ICE on the current session.

    Raises ValueError, naming the problem, for anything else: a description that does not parse,
    other m-lines than the session has (a client may not add or remove media this way), ICE
    parameters that differ between bundled m-lines, the same username fragment (not a restart),
    or another DTLS certificate than the session's (another peer connection: someone holding the
    participant's resume token could otherwise move their media path elsewhere).
    """
    if not isinstance(offer_sdp, str) or len(offer_sdp) > MAX_OFFER:
        raise ValueError("the offer is missing or too large")
    offer = _parse(offer_sdp)
    current = _parse(current_remote_sdp)
    mids = [(m.kind, m.rtp.muxId) for m in offer.media]
    if mids != [(m.kind, m.rtp.muxId) for m in current.media]:
        raise ValueError("a new offer may only restart ICE: its m-lines must be the session's own")
    params = {(m.ice.usernameFragment, m.ice.password) for m in offer.media if m.ice is not None}
    if len(params) != 1 or len(offer.media) == 0 or any(m.ice is None for m in offer.media):
        raise ValueError("the offer must carry one set of ICE credentials for all its m-lines")
    ufrag, pwd = params.pop()
    if not ufrag or not pwd:
        raise ValueError("the offer has no ICE credentials")
    old = {m.ice.usernameFragment for m in current.media if m.ice is not None}
    if ufrag in old:
        raise ValueError("the offer does not restart ICE (same username fragment)")
    if _fingerprints(offer) != _fingerprints(current):  # the DTLS session goes on: only its own peer may restart it
        raise ValueError("the offer's DTLS certificate is not the session's: only the same peer connection can restart ICE")
    candidates: list[Candidate] = []
    for media in offer.media:
        for c in media.ice_candidates:
            candidate = candidate_to_aioice(c)
            if candidate.component == 1 and candidate not in candidates:
                candidates.append(candidate)
    return RemoteIce(ufrag, pwd, tuple(candidates))


Negotiated = Mapping[str, tuple[Sequence[RTCRtpCodecParameters], Sequence[RTCRtpHeaderExtensionParameters]]]


def answer_for(offer_sdp: str, local_sdp: str, local: Connection, dtls_role: str,
               negotiated: Negotiated | None = None) -> str:
    """The answer to a restart offer: the session as it stands, with the new local ICE.

    Each m-line keeps its directions and exactly the codecs and header extensions in effect
    (`negotiated`, by mid; in their order, since the first codec of an answer is the one the
    other side sends), or else those of `local_sdp` that the offer still lists. The DTLS role
    stays what the handshake made it (`dtls_role`: "client" or "server").
    """
    offer = _parse(offer_sdp)
    desc = _parse(local_sdp)
    role = dtls_role if dtls_role in ("client", "server") else "server"
    candidates = [candidate_from_aioice(c) for c in local.local_candidates]
    for ours, theirs in zip(desc.media, offer.media):
        kept = (negotiated or {}).get(ours.rtp.muxId or "")
        if kept is not None and kept[0]:
            ours.rtp.codecs = copy.deepcopy(list(kept[0]))
            ours.rtp.headerExtensions = copy.deepcopy(list(kept[1]))
        else:
            offered = {c.payloadType for c in theirs.rtp.codecs}
            ours.rtp.codecs = [c for c in ours.rtp.codecs if c.payloadType in offered]
        ours.fmt = [c.payloadType for c in ours.rtp.codecs]
        ours.ice = RTCIceParameters(usernameFragment=local.local_username, password=local.local_password)
        ours.ice_candidates = list(candidates)
        if candidates:  # the default address is the first new candidate, as aiortc writes it
            ours.host, ours.port = candidates[0].ip, candidates[0].port
        ours.ice_candidates_complete = True
        if ours.dtls is not None:
            ours.dtls.role = role
    return str(desc)


def _fingerprints(description: sdp.SessionDescription) -> set[tuple[str, str]]:
    """The DTLS certificate fingerprints a description names, over all its m-lines."""
    return {(f.algorithm.lower(), f.value.upper()) for m in description.media if m.dtls is not None
            for f in m.dtls.fingerprints}


def _parse(text: str) -> sdp.SessionDescription:
    try:
        return sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises several kinds on malformed text
        raise ValueError(f"the description does not parse: {str(exc)[:120]}") from None


class IceRestart:
    """Puts a freshly gathered ICE connection under an `RTCIceTransport` that is in use.

    The old connection carries everything until the new one has connected: only then does the
    new one take over (so nothing is ever sent on a connection without a selected pair, which
    would end aiortc's senders), and the old one is closed.
    """

    def __init__(self, ice: RTCIceTransport, servers: Sequence[RTCIceServer],
                 port_range: tuple[int, int] | None) -> None:
        self.ice = ice
        old: Connection = ix.get(ice, ix.ICE_CONNECTION)
        self.old = old
        self.new = Connection(ice_controlling=old.ice_controlling,
                              transport_policy=ix.get(old, ix.ICE_TRANSPORT_POLICY),
                              **connection_kwargs(list(servers)))
        self._port_range = port_range
        self.swapped = False  # the new connection has taken over
        self.abandoned = False

    async def gather(self) -> None:
        """Bind and gather the new connection's candidates (the old one carries on meanwhile)."""
        with ports.binding(self._port_range):
            await self.new.gather_candidates()

    def describe_new(self) -> None:
        """From now on, descriptions made for this transport carry the new ICE parameters."""
        ix.put(self.ice.iceGatherer, ix.ICE_CONNECTION, self.new)

    async def connect(self, remote: RemoteIce, on_swapped: Callable[[Connection], None]) -> bool:
        """Run the checks on the new connection; once it connects, put it in place of the old one.

        `on_swapped(new)` re-points whatever read the old connection. Returns whether ICE
        connected; on failure the new connection is closed and the old one stays. A caller that
        gives up waiting (cancels this) calls `abandon()` itself.
        """
        new = self.new
        new.remote_username, new.remote_password = remote.ufrag, remote.pwd
        for candidate in remote.candidates:
            await new.add_remote_candidate(candidate)
        try:
            await new.connect()
        except ConnectionError:
            await self.abandon()
            return False
        self._swap(on_swapped)
        set_state = ix.get(self.ice, ix.ICE_TRANSPORT_SET_STATE)
        set_state("checking")  # so the old connection's end is not read as a failure
        await self.old.close()
        monitor = ix.get(self.ice, ix.ICE_TRANSPORT_MONITOR)
        if monitor is not None:
            await asyncio.gather(monitor, return_exceptions=True)  # it ends with the old connection
        ix.put(self.ice, ix.ICE_TRANSPORT_MONITOR, asyncio.ensure_future(ix.get(self.ice, ix.ICE_TRANSPORT_WATCH)()))
        set_state("completed")
        return True

    def _swap(self, on_swapped: Callable[[Connection], None]) -> None:
        """The DTLS transport is waiting on the old connection's receive queue: the new connection
        takes that queue over (with anything it queued meanwhile) and the old one gets an empty
        one, so closing it cannot end DTLS."""
        ice, old, new = self.ice, self.old, self.new
        shared: asyncio.Queue[object] = ix.get(old, ix.ICE_QUEUE)
        own: asyncio.Queue[object] = ix.get(new, ix.ICE_QUEUE)
        while not own.empty():
            shared.put_nowait(own.get_nowait())
        ix.put(new, ix.ICE_QUEUE, shared)
        ix.put(old, ix.ICE_QUEUE, asyncio.Queue())
        ix.put(ice.iceGatherer, ix.ICE_CONNECTION, new)
        ix.put(ice, ix.ICE_CONNECTION, new)
        ix.put(ice, ix.ICE_TRANSPORT_RECV, new.recv)
        ix.put(ice, ix.ICE_TRANSPORT_SEND, new.send)
        self.swapped = True
        on_swapped(new)

    async def abandon(self) -> None:
        """Give up before the new connection took over: close it; the old one stays in place (and in
        descriptions). Does nothing once the new one has taken over, or a second time."""
        if self.swapped or self.abandoned:
            return
        self.abandoned = True
        ix.put(self.ice.iceGatherer, ix.ICE_CONNECTION, self.old)
        await self.new.close()
