"""Media port range and public address (media.ports) with real aiortc peers."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from media import ports
from tests.media.clips import make_clip
from tests.media.peers import Harness, wait_for

RANGE = (45200, 45299)
PUBLIC = "203.0.113.7"  # TEST-NET-3


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "pattern.webm", seconds=2.0, gop=15)


def host_candidates(sdp: str) -> list[tuple[str, str, int]]:
    """(foundation, address, port) of every UDP host candidate."""
    found = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            f = line[len("a=candidate:"):].split()
            if f[2].lower() == "udp" and f[7] == "host":
                found.append((f[0], f[4], int(f[5])))
    return found


def room_sdps(h: Harness) -> list[str]:
    """What the room sent to each client: the join answer and any offers."""
    out = []
    for c in h.clients.values():
        for i, (kind, sdp) in enumerate(c.sdp_log):
            if (i == 1 and kind == "answer") or (i > 1 and kind == "offer"):
                out.append(sdp)
    return out


def flowing(h: Harness) -> bool:
    for me, c in h.clients.items():
        for other in h.clients:
            if other != me and (not c.from_(other, "audio") or c.from_(other, "audio")[0].frames < 10):
                return False
    return True


def test_parse_range() -> None:
    assert ports.parse_range("40000-40999") == (40000, 40999)
    for bad in ("40000", "a-b", "5-3", "0-10", "1-70000"):
        with pytest.raises(ValueError):
            ports.parse_range(bad)


def test_advertise_public_adds_one_candidate_per_ipv4_host_candidate() -> None:
    sdp = ("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n"
           "a=candidate:abc 1 udp 2130706431 192.168.1.5 40001 typ host\r\n"
           "a=candidate:def 1 udp 2130706431 fe80::1 40002 typ host\r\n"
           "a=candidate:ghi 1 udp 1694498815 198.51.100.1 5000 typ srflx raddr 192.168.1.5 rport 40001\r\n"
           "a=end-of-candidates\r\n")
    out = ports.advertise_public(sdp, PUBLIC)
    added = [c for c in host_candidates(out) if c[1] == PUBLIC]
    assert [(a, p) for _, a, p in added] == [(PUBLIC, 40001)]
    assert added[0][0] not in ("abc", "def") and len(added[0][0]) <= 32
    assert f"udp 2130706175 {PUBLIC} 40001 typ host\r\n" in out
    assert out.endswith("a=end-of-candidates\r\n")
    assert ports.advertise_public(sdp, None) == sdp


async def test_host_candidates_stay_in_the_range_and_media_flows(clip: Path) -> None:
    h = Harness(port_range=RANGE)
    try:
        for pid in ("anna", "bo"):
            await h.add(pid, clip=clip)
        await wait_for(lambda: flowing(h), 8, "audio flowing both ways")
        sdps = room_sdps(h)
        assert len(sdps) >= 2
        for sdp in sdps:
            cands = host_candidates(sdp)
            assert cands, sdp
            assert all(RANGE[0] <= port <= RANGE[1] for _, _, port in cands), cands
        # the clients' own sockets are not affected by the room's range
        assert any(not (RANGE[0] <= port <= RANGE[1])
                   for c in h.clients.values() for _, _, port in host_candidates(c.sdp_log[0][1]))
    finally:
        await h.close()


async def test_public_address_is_advertised_and_a_lan_client_still_connects(clip: Path) -> None:
    h = Harness(port_range=RANGE, public_address=PUBLIC)
    try:
        for pid in ("anna", "bo"):
            await h.add(pid, clip=clip)
        await wait_for(lambda: flowing(h), 8, "audio flowing both ways")
        for sdp in room_sdps(h):
            cands = host_candidates(sdp)
            public = [(f, p) for f, a, p in cands if a == PUBLIC]
            local = [(f, p) for f, a, p in cands if a != PUBLIC and ":" not in a]
            assert public and local, sdp
            assert sorted({p for _, p in public}) == sorted({p for _, p in local})
            assert all(RANGE[0] <= p <= RANGE[1] for _, p in public)
            assert not {f for f, _ in public} & {f for f, _ in local}
    finally:
        await h.close()


async def test_an_exhausted_range_is_a_clear_error(clip: Path) -> None:
    held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    held.bind(("0.0.0.0", 0))
    port = held.getsockname()[1]
    h = Harness(port_range=(port, port))
    try:
        with pytest.raises(ValueError, match=f"no free UDP port .* media range {port}-{port}"):
            await h.add("anna", clip=clip)
        assert h.room.participants == []
    finally:
        held.close()
        await h.close()
