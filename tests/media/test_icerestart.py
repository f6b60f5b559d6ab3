"""ICE restart on a running session (media.icerestart, Room.restart_ice), with real aiortc peers."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media import Glare
from media.icerestart import IceRestart, answer_for, read_restart_offer
from tests.media.clips import make_clip
from tests.media.peers import Client, Harness, wait_for


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


def _ice_connection(h: Harness, pid: str):  # type: ignore[no-untyped-def]
    pc = h.room.participant(pid).pc
    return next(t.receiver.transport for t in pc.getTransceivers()).transport._connection


def _frames(h: Harness, pid: str, publisher: str) -> int:
    return sum(r.frames for r in h.clients[pid].from_(publisher, "video"))


def _ufrag(sdp: str) -> str:
    return re.search(r"a=ice-ufrag:(\S+)", sdp).group(1)  # type: ignore[union-attr]


async def test_both_sides_of_a_room_restart_ice_and_media_goes_on(clip: Path) -> None:
    h = Harness()
    try:
        for pid in ("anna", "bo"):
            await h.add(pid, clip=clip)
        await wait_for(lambda: _frames(h, "anna", "bo") > 10 and _frames(h, "bo", "anna") > 10, 8, "media both ways")
        for pid in ("anna", "bo"):  # the publisher's and the subscriber's leg both move
            old = _ice_connection(h, pid)
            old_ports = {p.transport.get_extra_info("sockname")[1] for p in old._protocols}
            answer = await h.clients[pid].restart_ice()
            await wait_for(lambda: h.room.participant(pid).restarting is False, 10, f"{pid}'s restart finishing")
            new = _ice_connection(h, pid)
            assert new is not old and old._protocols == [] and new._nominated  # old sockets closed
            assert _ufrag(answer) == new.local_username != old.local_username
            new_ports = {p.transport.get_extra_info("sockname")[1] for p in new._protocols}
            assert not new_ports & old_ports
            counts = (_frames(h, "anna", "bo"), _frames(h, "bo", "anna"))
            await wait_for(lambda: _frames(h, "anna", "bo") > counts[0] + 15 and _frames(h, "bo", "anna") > counts[1] + 15,
                           8, f"media both ways after {pid}'s restart")
        # the session goes on: a third participant joins, the room renegotiates with the new ICE
        await h.add("carl", clip=clip)
        await wait_for(lambda: _frames(h, "anna", "carl") > 10 and _frames(h, "carl", "anna") > 10, 10,
                       "media with a newcomer after the restarts")
        assert all(h.room.participant(pid).pc.connectionState == "connected" for pid in ("anna", "bo"))
    finally:
        await h.close()


async def _anna_and_bo(h: Harness, clip: Path) -> Client:
    """Two publishers in the room, media flowing both ways and anna's session settled; anna."""
    anna = await h.add("anna", clip=clip)
    await h.add("bo", clip=clip)
    await wait_for(lambda: _frames(h, "anna", "bo") > 5 and _frames(h, "bo", "anna") > 5
                   and not h.room.participant("anna").offer_pending, 8, "media and a settled session")
    return anna


async def test_offers_that_are_not_a_restart_are_refused_and_change_nothing(clip: Path) -> None:
    h = Harness()
    try:
        anna = await _anna_and_bo(h, clip)
        before = _ice_connection(h, "anna")
        own = anna.pc.localDescription.sdp
        with pytest.raises(ValueError, match="same username fragment"):
            await h.room.restart_ice("anna", own)  # no new ICE credentials
        fewer = own[: own.rindex("m=")]  # drops the last m-line
        with pytest.raises(ValueError, match="m-lines"):
            await h.room.restart_ice("anna", fewer.replace(_ufrag(own), "fresh1234"))
        with pytest.raises(ValueError, match="does not parse|m-lines|credentials"):
            await h.room.restart_ice("anna", "v=0\r\nm=video x\r\n")
        with pytest.raises(KeyError):
            await h.room.restart_ice("nobody", own)
        h.room.participant("anna").offer_pending = True  # as while an offer from the room is out
        with pytest.raises(Glare):
            await h.room.restart_ice("anna", own.replace(_ufrag(own), "fresh1234"))
        h.room.participant("anna").offer_pending = False
        assert _ice_connection(h, "anna") is before
        # a restart offer seen once is not taken twice (a replay)
        answer = await anna.restart_ice()
        assert answer
        await wait_for(lambda: h.room.participant("anna").restarting is False, 10, "the restart finishing")
        replay = anna.pc.localDescription.sdp.replace(_ufrag(anna.pc.localDescription.sdp),
                                                      next(iter(h.room.participant("anna").ice_ufrags)))
        with pytest.raises(ValueError, match="used before"):
            await h.room.restart_ice("anna", replay)
        count = _frames(h, "bo", "anna")
        await wait_for(lambda: _frames(h, "bo", "anna") > count + 10, 8, "media after the refusals")
    finally:
        await h.close()


async def test_leaving_during_a_restart_closes_its_new_sockets(clip: Path) -> None:
    h = Harness()
    try:
        anna = await _anna_and_bo(h, clip)
        # anna's side gathers and offers a restart, then goes away before any check can succeed
        dtls = next(t.receiver.transport for t in anna.pc.getTransceivers())
        theirs = IceRestart(dtls.transport, [], None)
        await theirs.gather()
        local = anna.pc.localDescription.sdp
        await h.room.restart_ice("anna", answer_for(local, local, theirs.new, dtls._role))
        await theirs.abandon()
        restart = h.room.participant("anna").restart
        assert restart is not None and restart.new._protocols  # the node's new sockets are open
        await h.room.leave("anna")
        assert restart.new._protocols == [] and restart.abandoned
        assert h.room.participants == ["bo"]
    finally:
        await h.close()


CURRENT = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
           "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
           "a=rtpmap:111 opus/48000/2\r\na=ice-ufrag:old1\r\na=ice-pwd:oldpasswordoldpassword\r\n"
           "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=400),
                 st.builds(lambda a, b: CURRENT.replace("old1", a).replace("a=mid:0", b), st.text(max_size=20),
                           st.text(max_size=30))))
def test_any_restart_offer_text_is_read_or_refused_with_value_error(text: str) -> None:
    try:
        remote = read_restart_offer(text, CURRENT)
    except ValueError:
        return
    assert remote.ufrag and remote.pwd and remote.ufrag != "old1"


def test_a_restart_offer_is_read() -> None:
    remote = read_restart_offer(CURRENT.replace("old1", "new2").replace("oldpassword", "newpassword")
                                + "a=candidate:1 1 udp 2130706431 192.0.2.9 50000 typ host\r\n", CURRENT)
    assert (remote.ufrag, remote.pwd) == ("new2", "newpasswordnewpassword")
    assert [(c.host, c.port) for c in remote.candidates] == [("192.0.2.9", 50000)]
    with pytest.raises(ValueError, match="too large"):
        read_restart_offer("v=0\r\n" + "a=x\r\n" * 60_000, CURRENT)
    # another peer connection (another certificate), e.g. someone else holding the resume token
    other = CURRENT.replace("old1", "new2").replace(":".join(["AB"] * 32), ":".join(["CD"] * 32))
    with pytest.raises(ValueError, match="DTLS certificate is not the session's"):
        read_restart_offer(other, CURRENT)
    assert read_restart_offer(CURRENT.replace("old1", "new2").replace("AB", "ab"), CURRENT).ufrag == "new2"


def test_the_answer_keeps_the_codecs_in_effect_in_their_order() -> None:
    """The first codec of an answer is what the other side sends: a restart must not change it."""
    from aioice import Connection
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    offer = CURRENT.replace("old1", "new2").replace("111\r\n", "111 96 97\r\n").replace(
        "a=rtpmap:111 opus/48000/2\r\n", "a=rtpmap:111 opus/48000/2\r\na=rtpmap:96 G722/8000\r\na=rtpmap:97 PCMU/8000\r\n")
    local = offer.replace("a=sendonly", "a=recvonly")
    connection = Connection(ice_controlling=False)
    in_effect = [RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, payloadType=97)]
    answer = answer_for(offer, local, connection, "client", {"0": (in_effect, [])})
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 97\r\n" in answer and "opus" not in answer
    assert f"a=ice-ufrag:{connection.local_username}" in answer and "a=setup:active" in answer
    assert "a=recvonly" in answer and "a=end-of-candidates" in answer
    # without what is in effect, the local description's codecs that the offer still lists
    answer = answer_for(CURRENT.replace("old1", "new3"), local, connection, "server")
    assert "UDP/TLS/RTP/SAVPF 111\r\n" in answer and "a=setup:passive" in answer
