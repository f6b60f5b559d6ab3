"""The video room page in two real headless Chromiums against a real node (TLS, SQLCipher, /ws, aiortc SFU).

A staff member makes the room and a guest link over HTTP. The host page is that staff member logged
in (the browser's own session cookie) opening ``/room#room=ID``; the guest page opens the invite
link, knocks, is let in through the host page's own button, and both see and hear each other: the
pages' peer connections decode frames and the ``<video>`` elements have a size. Then the guest
loses the network for a moment and comes back by itself (the banner says "Forbindelsen er tabt —
prøver igen" meanwhile), then switches to sound only: its camera track stops, and the host's tile for
the guest says camera off.

Chromium and the node run on one machine. aioice never offers 127.0.0.1, so the node's candidates
are this machine's external address; Chromium (with camera permission, so no mDNS names) offers the
same address, and the pair connects there. ``--allow-loopback-in-peer-connection`` is therefore not
needed (and would not help: the node has no loopback candidate to pair with). A machine with no
external interface at all cannot run this test until the node offers a loopback or TURN path.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from media import inlet
from node.clock import ManualClock
from node.room_ws import ROOMS
from node.server import RunningNode
from tests.conftest import Staff, base_url, enrol, login

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT_MS = 15_000
MEDIA_TIMEOUT_MS = 30_000

# Every RTCPeerConnection a page makes, so the test can read its statistics (the page exposes nothing).
SPY = """
window.__pcs = [];
(function () {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    const pc = new Native(config);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();
"""

FRAMES_DECODED = """
async () => {
  let total = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") total += s.framesDecoded || 0; });
  }
  return total;
}
"""


DIAG = """
async () => window.__pcs.map((pc) => ({
  conn: pc.connectionState, ice: pc.iceConnectionState, sig: pc.signalingState,
  local: pc.localDescription && pc.localDescription.sdp.split("\\r\\n").filter((l) => /^(m=|a=candidate|a=msid|a=send|a=recv|a=inactive)/.test(l)),
  remote: pc.remoteDescription && pc.remoteDescription.sdp.split("\\r\\n").filter((l) => /^(m=|a=candidate|a=msid|a=send|a=recv|a=inactive)/.test(l)),
  tr: pc.getTransceivers().map((t) => [t.mid, t.direction, t.currentDirection, t.receiver.track.kind, t.receiver.track.readyState]),
}))
"""


JS_ERRORS: dict[Page, list[str]] = {}  # each page's script errors and warnings
INVITES: dict[str, str] = {}  # room id -> the guest link's token


async def new_page(browser: Browser, viewport: dict[str, int] | None = None) -> tuple[BrowserContext, Page]:
    # The test node's TLS comes from a freshly generated CA this Chromium has never seen; the
    # certificate checks are covered by the node tests.
    context = await browser.new_context(ignore_https_errors=True, locale="da-DK",
                                        viewport=viewport or {"width": 1024, "height": 800},
                                        permissions=["camera", "microphone"])
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(SPY)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # Chromium itself logs each refused reconnect while the test has taken the network away.
    page.on("console", lambda msg: errors.append(msg.text)
            if msg.type in ("error", "warning") and "ERR_INTERNET_DISCONNECTED" not in msg.text else None)
    JS_ERRORS[page] = errors
    return context, page


async def api(http: aiohttp.ClientSession, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(path, json=body, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201, await resp.text()
        data: dict[str, Any] = await resp.json()
    return data


STATS = """
async () => {
  const out = [];
  for (const pc of window.__pcs) {
    const stats = await pc.getStats();
    stats.forEach((s) => { if (s.type === "inbound-rtp" || s.type === "outbound-rtp") out.push([s.type, s.kind, s.mid, s.packetsReceived, s.bytesReceived, s.framesDecoded, s.packetsSent, s.framesEncoded, s.keyFramesDecoded, s.pliCount, s.nackCount]); });
  }
  const tiles = Array.from(document.querySelectorAll('.tile[data-pid] video')).map((v) => [v.srcObject && v.srcObject.getTracks().map((t) => t.kind + ':' + t.readyState + ':' + t.muted), v.videoWidth, v.paused]);
  return {out, tiles};
}
"""


async def wait_video(page: Page, selector: str) -> None:
    """Frames decode on the page's peer connection and keep coming, and the tile's video has a size."""
    try:
        await page.wait_for_function("(sel) => { const v = document.querySelector(sel); return v && v.videoWidth > 0; }",
                                     arg=selector, timeout=MEDIA_TIMEOUT_MS)
    except Exception:  # what the peer connection saw, for whoever reads the failure
        print("DIAG", await page.evaluate(DIAG))
        print("STATS", await page.evaluate(STATS))
        print("LOG", JS_ERRORS[page])
        raise
    first = await page.evaluate(FRAMES_DECODED)
    await page.wait_for_timeout(1000)
    later = await page.evaluate(FRAMES_DECODED)
    assert later > first > 0, (first, later)


async def two_in_a_room(browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession,
                        kind: str = "support") -> tuple[BrowserContext, Page, BrowserContext, Page, str]:
    """Anna (staff, host, a laptop) and Bo (guest by invite link, a phone) in a support room (or a
    group room, whose link can be used again: `INVITES[room id]`), each decoding the other's
    video: (host context, host page, guest context, guest page, room id)."""
    anna: Staff = await enrol(node, clock, "Anna", "staff")
    token = str((await login(http, anna))["token"])
    room = await api(http, token, "/api/rooms", {"kind": kind, "title": "Samtale med Anna"})
    room_id = room.get("room") or room.get("id")
    invite = await api(http, token, f"/api/rooms/{room_id}/invites",
                       {"role": "guest", "single_use": kind == "support", "ttl_minutes": 60})
    assert invite["url"].endswith("/room#invite=" + invite["token"])
    INVITES[room_id] = invite["token"]

    # The host: Anna logged in with this browser's own session cookie, opening the room by its id.
    host_ctx, host = await new_page(browser)
    resp = await host_ctx.request.post(base_url(node) + "/api/login", data=anna.login_body())
    assert resp.ok, await resp.text()
    clock.advance(30)
    await host.goto(base_url(node) + f"/room#room={room_id}")
    await expect(host).to_have_url(re.compile(r"/room$"))  # the link is gone from the address bar
    await host.get_by_role("button", name="Gå ind med kamera og lyd").click()
    await expect(host.locator("#view-room")).to_be_visible()
    await expect(host.locator("#people-list")).to_contain_text("Anna")
    await expect(host.locator("#alone")).to_be_visible()

    # The guest: a phone, the invite link, a chosen name.
    guest_ctx, guest = await new_page(browser, {"width": 360, "height": 740})
    await guest.goto(base_url(node) + "/room#invite=" + invite["token"])
    await expect(guest).to_have_url(re.compile(r"/room$"))
    await expect(guest.get_by_role("heading", name="Du er inviteret til et videomøde")).to_be_visible()
    await guest.get_by_label("Hvad vil du kaldes?").fill("Bo")
    await guest.get_by_role("button", name="Gå ind med kamera og lyd").click()
    await expect(guest.get_by_role("heading", name="Vent lidt — værten lukker dig ind")).to_be_visible()
    # The lobby shows who is inside: no hidden listeners, even before you are in.
    await expect(guest.locator("#people-list")).to_contain_text("Anna")
    await expect(guest.locator("#people-list")).to_contain_text("Bo")
    await expect(guest.get_by_role("button", name="Forlad")).to_be_visible()

    # The host sees the knock and lets Bo in with the page's own button.
    await expect(host.locator("#knocking")).to_be_visible()
    await host.get_by_role("button", name="Luk Bo ind").click()
    await expect(host.locator("#knocking")).to_be_hidden()
    await expect(guest.locator("#view-room")).to_be_visible()

    # Each page decodes the other's video, and the tile shows it.
    await wait_video(guest, ".tile[data-pid] video")
    await wait_video(host, ".tile[data-pid] video")
    await expect(host.locator(".tile[data-pid] .tile-name")).to_have_text("Bo")
    await expect(guest.locator(".tile[data-pid] .tile-name")).to_contain_text("Anna")
    # Sound arrives too (an <audio> per participant, with a live track).
    assert await guest.evaluate(
        "Array.from(document.querySelectorAll('#audio-sink audio')).some("
        "(a) => a.srcObject && a.srcObject.getAudioTracks().some((t) => t.readyState === 'live'))")

    return host_ctx, host, guest_ctx, guest, room_id


async def test_two_browsers_see_each_other_and_switch_to_sound_only(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    host_ctx, host, guest_ctx, guest, room_id = await two_in_a_room(browser, node, clock, http)

    # Chromium's media (with its MID, abs-send-time, audio-level, RTX and padding) is taken by the
    # node's C receive path, none of it refused
    service = node.runner.app[ROOMS]
    if inlet.FAST:
        media = service.media[room_id]
        taken = [media.participant(pid).inlet for pid in media.participants]
        assert all(t is not None and t.fast is not None and t.fast.handled > 100 and t.refused == 0 for t in taken), \
            [(t.fast.handled, t.refused) for t in taken if t is not None and t.fast is not None]

    # After many comings and goings the room's offer grows too large (m-lines are not recycled): the
    # node sends room.rejoin instead, and the page comes back by itself with a fresh peer connection.
    lobby = service.registry.get(room_id)
    bo_before = next(p.id for p in lobby.admitted if p.name == "Bo")
    await service._offer_sink(room_id)(bo_before, "v=0\r\n" + "a=x-filler\r\n" * 7000)
    await guest.wait_for_function("() => window.__pcs.length >= 2")  # a second peer connection
    await expect(host.locator("#people-list .person")).to_have_count(2)
    assert bo_before not in {p.id for p in service.registry.get(room_id).admitted}
    await wait_video(guest, ".tile[data-pid] video")
    await wait_video(host, ".tile[data-pid] video")

    # The text chat works inside the room.
    await guest.get_by_role("button", name="Skriv").click()
    await guest.get_by_label("Din besked").fill("Kan du høre mig?")
    await guest.get_by_role("button", name="Send", exact=True).click()
    await expect(guest.locator("#chat-log")).to_contain_text("Kan du høre mig?")
    await expect(host.locator("#chat-button")).to_contain_text("1 ny")

    # The network drops for a moment: the page says so plainly, then takes its place back by itself
    # (room.resume with keep: same participant, same peer connection; the node held the seat and
    # Anna saw Bo as reconnecting, not as gone), and video flows again.
    bo = next(p.id for p in service.registry.get(room_id).admitted if p.name == "Bo")
    pcs = await guest.evaluate("() => window.__pcs.length")
    await guest_ctx.set_offline(True)
    await expect(guest.locator("#conn-status")).to_have_text("Forbindelsen er tabt — prøver igen")
    await expect(host.locator("#people-list")).to_contain_text("forbinder igen", timeout=MEDIA_TIMEOUT_MS)
    await guest_ctx.set_offline(False)
    await expect(guest.locator("#conn-status")).not_to_have_text("Forbindelsen er tabt — prøver igen",
                                                                 timeout=MEDIA_TIMEOUT_MS)
    await expect(guest.locator("#view-room")).to_be_visible()
    await wait_video(guest, ".tile[data-pid] video")
    await wait_video(host, ".tile[data-pid] video")
    await expect(host.locator("#people-list .person")).to_have_count(2)  # no stale Bo left behind
    await expect(host.locator("#people-list")).not_to_contain_text("forbinder igen")
    assert [p.id for p in service.registry.get(room_id).admitted if p.name == "Bo"] == [bo]
    assert await guest.evaluate("() => window.__pcs.length") == pcs  # no new peer connection

    # Sound only: Bo's camera stops, Anna's tile for Bo says so, the people list too.
    await guest.get_by_role("button", name="Kun lyd").click()
    await expect(guest.locator("#audio-only-button")).to_have_attribute("aria-pressed", "true")
    assert await guest.evaluate("""() => {
        const live = window.__pcs.filter((pc) => pc.connectionState !== 'closed');
        const senders = live.flatMap((pc) => pc.getSenders());
        return senders.every((s) => !s.track || s.track.kind !== 'video' || s.track.readyState === 'ended');
    }""")
    await expect(guest.locator("#self-off")).to_be_visible()
    tile = host.locator(".tile[data-pid]")
    await expect(tile).to_have_class(re.compile(r"\bcamera-off\b"))
    await expect(tile.locator(".tile-off")).to_have_text("Kamera slukket")
    await expect(host.locator("#people-list")).to_contain_text("kamera fra")
    # Sound still flows both ways: the host keeps receiving Bo's audio.
    assert await host.evaluate(
        "Array.from(document.querySelectorAll('#audio-sink audio')).some("
        "(a) => a.srcObject && a.srcObject.getAudioTracks().some((t) => t.readyState === 'live'))")

    # Leave at once: no question; the host sees Bo gone.
    await guest.get_by_role("button", name="Forlad").click()
    await expect(guest.get_by_role("heading", name="Du har forladt rummet")).to_be_visible()
    await expect(host.locator("#people-list")).not_to_contain_text("Bo")
    await expect(host.locator("#alone")).to_be_visible()

    for page in (host, guest):
        errors = [e for e in JS_ERRORS[page] if "status of 401" not in e]
        assert errors == [], errors
    await host_ctx.close()
    await guest_ctx.close()


TRANSCEIVERS = """
() => {
  const pc = window.__pcs.filter((p) => p.connectionState !== "closed").pop();
  return pc.getTransceivers().map((t) => [t.mid, t.currentDirection, t.receiver.track.readyState]);
}
"""


async def test_someone_who_leaves_and_comes_back_arrives_on_the_same_m_lines(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """The node recycles m-lines for the browser client: after Bo leaves (the host answers his
    m-lines inactive) and comes back with a new participant id, Anna's page gets him on the same
    m-lines, with the same receiver tracks, and decodes his video; the session does not grow."""
    host_ctx, host, guest_ctx, guest, room_id = await two_in_a_room(browser, node, clock, http, kind="group")
    service = node.runner.app[ROOMS]
    first = next(p.id for p in service.registry.get(room_id).admitted if p.name == "Bo")
    before = await host.evaluate(TRANSCEIVERS)
    await host.evaluate("""() => {
      const pc = window.__pcs.filter((p) => p.connectionState !== "closed").pop();
      window.__tracks = pc.getTransceivers().map((t) => t.receiver.track);
    }""")

    await guest.get_by_role("button", name="Forlad").click()
    await expect(host.locator("#people-list")).not_to_contain_text("Bo")
    await host.wait_for_function(
        "() => window.__pcs.filter((p) => p.connectionState !== 'closed').pop().getTransceivers()"
        ".filter((t) => t.currentDirection === 'inactive').length === 2")

    await guest_ctx.close()  # Bo comes back on a fresh page (the same link)
    guest_ctx, guest = await new_page(browser, {"width": 360, "height": 740})
    await guest.goto(base_url(node) + "/room#invite=" + INVITES[room_id])
    await guest.get_by_label("Hvad vil du kaldes?").fill("Bo")
    await guest.get_by_role("button", name="Gå ind med kamera og lyd").click()
    await host.get_by_role("button", name="Luk Bo ind").click()
    await expect(guest.locator("#view-room")).to_be_visible()
    second = next(p.id for p in service.registry.get(room_id).admitted if p.name == "Bo")
    assert second != first
    await wait_video(host, ".tile[data-pid] video")
    await wait_video(guest, ".tile[data-pid] video")
    await expect(host.locator("#people-list .person")).to_have_count(2)
    await expect(host.locator(".tile[data-pid]")).to_have_count(1)  # no tile left for the Bo who left

    after = await host.evaluate(TRANSCEIVERS)
    assert len(after) == len(before), (before, after)  # no new m-line
    assert [mid for mid, *_ in after] == [mid for mid, *_ in before]
    assert all(state == "live" for _, _, state in after), after
    assert await host.evaluate("""(pid) => {
      const pc = window.__pcs.filter((p) => p.connectionState !== "closed").pop();
      const tile = document.querySelector(`.tile[data-pid="${pid}"] video`);
      const shown = tile && tile.srcObject ? tile.srcObject.getTracks() : [];
      return pc.getTransceivers().every((t, i) => t.receiver.track === window.__tracks[i])
        && shown.some((t) => window.__tracks.includes(t));
    }""", second)
    for page in (host, guest):
        errors = [e for e in JS_ERRORS[page] if "status of 401" not in e]
        assert errors == [], errors
    await host_ctx.close()
    await guest_ctx.close()


def _nft(script: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True, capture_output=True)


async def test_media_path_lost_comes_back_by_ice_restart_on_the_same_connection(
        browser: Browser, node: RunningNode, clock: ManualClock, http: aiohttp.ClientSession) -> None:
    """The media path breaks while the page's socket stays up (a Wi-Fi access point drops UDP, a NAT
    forgets the mapping): the page says so, restarts ICE on its peer connection, and the node answers
    with new ICE on the same session. No rejoin: same peer connection, same place in the room."""
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nft to drop the node's media ports on this machine (CI has both)")
    host_ctx, host, guest_ctx, guest, room_id = await two_in_a_room(browser, node, clock, http)
    service = node.runner.app[ROOMS]
    bo = next(p.id for p in service.registry.get(room_id).admitted if p.name == "Bo")
    media = service.media[room_id].participant(bo)
    ice = next(t.receiver.transport for t in media.pc.getTransceivers()).transport
    old = ice._connection
    ports = sorted({p.transport.get_extra_info("sockname")[1] for p in old._protocols})
    table = f"fristed_test_{os.getpid()}"
    rules = "".join(f"    udp sport {port} drop\n    udp dport {port} drop\n" for port in ports)
    # Every UDP packet to or from the node's ICE sockets for Bo is dropped (loopback only: both ends
    # are on this machine, and these ports are the node's own, ephemeral ones).
    _nft(f"table inet {table} {{\n  chain out {{\n    type filter hook output priority -10;\n{rules}  }}\n}}\n")
    try:
        await expect(guest.locator("#conn-status")).to_have_text("Forbindelsen er tabt — prøver igen",
                                                                 timeout=MEDIA_TIMEOUT_MS)
        await expect(guest.locator("#conn-status")).not_to_have_text("Forbindelsen er tabt — prøver igen",
                                                                     timeout=MEDIA_TIMEOUT_MS)
        assert await guest.evaluate("() => window.__pcs.length") == 1  # the same peer connection
        assert ice._connection is not old and old._protocols == []
        assert service.registry.get(room_id).people[bo].state == "admitted"  # the same place
        # Video decodes again from the next keyframe (the node asks the publishers for one when
        # the new path takes over; a browser that still misses one asks too).
        for page in (guest, host):
            before = await page.evaluate(FRAMES_DECODED)
            await page.wait_for_function(f"async () => ({FRAMES_DECODED.strip()})() > {before + 15}",
                                         timeout=MEDIA_TIMEOUT_MS)
            await wait_video(page, ".tile[data-pid] video")
        await expect(host.locator("#people-list .person")).to_have_count(2)
    finally:
        _nft(f"delete table inet {table}")
    for page in (host, guest):
        assert [e for e in JS_ERRORS[page] if "status of 401" not in e] == []
    await host_ctx.close()
    await guest_ctx.close()


async def test_device_test_page_shows_camera_and_microphone(browser: Browser, node: RunningNode) -> None:
    context, page = await new_page(browser, {"width": 360, "height": 740})
    await page.goto(base_url(node) + "/device-test")
    await page.get_by_role("button", name="Start testen").click()
    await expect(page.locator("#result-camera")).to_have_text("Dit kamera virker.")
    # Chromium's fake microphone beeps: the level meter hears it.
    await expect(page.locator("#result-mic")).to_have_text("Vi kan høre din mikrofon.")
    # The loopback through the node: the camera comes back and decodes in the second <video>.
    await expect(page.locator("#result-path")).to_have_text("Forbindelsen virker — andre kan se og høre dig",
                                                            timeout=MEDIA_TIMEOUT_MS)
    assert await page.evaluate(FRAMES_DECODED) > 0
    assert await page.evaluate("document.getElementById('loopback').videoWidth") > 0
    await expect(page.get_by_text("ikke testet her endnu")).to_have_count(0)
    await page.get_by_role("button", name="Stop testen").click()
    assert await page.evaluate("document.getElementById('preview').srcObject === null")
    assert await page.evaluate("document.getElementById('loopback').srcObject === null")
    assert JS_ERRORS[page] == []
    await context.close()


# Offer and answer only H.264 (packetization-mode 1, constrained baseline) for video, so VP8 cannot
# be chosen: every video transceiver gets these codec preferences before each offer and answer.
ONLY_H264 = """
(function () {
  function only(pc) {
    const codecs = RTCRtpReceiver.getCapabilities("video").codecs;
    const h264 = codecs.filter((c) => c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || "")
                                      && /profile-level-id=42e01f/.test(c.sdpFmtpLine || ""));
    const rtx = codecs.filter((c) => c.mimeType === "video/rtx");
    for (const t of pc.getTransceivers()) {
      if (t.receiver.track && t.receiver.track.kind === "video" && !t.stopped) {
        t.setCodecPreferences(h264.concat(rtx));
      }
    }
  }
  for (const name of ["createOffer", "createAnswer"]) {
    const original = RTCPeerConnection.prototype[name];
    RTCPeerConnection.prototype[name] = function (...args) {
      only(this);
      return original.apply(this, args);
    };
  }
})();
"""

VIDEO_CODECS = """
async () => {
  const out = [];
  for (const pc of window.__pcs) {
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video" && s.codecId) out.push(stats.get(s.codecId).mimeType);
    });
  }
  return out;
}
"""


async def test_h264_is_forwarded_when_the_browser_offers_only_h264(browser: Browser, node: RunningNode) -> None:
    """The device test's loopback runs the whole forwarding path (publisher leg in, subscriber leg out) in
    H.264 when that is all the browser offers: the looped-back picture decodes and its codec is H.264."""
    context, page = await new_page(browser, {"width": 360, "height": 740})
    await context.add_init_script(ONLY_H264)
    await page.goto(base_url(node) + "/device-test")
    await page.get_by_role("button", name="Start testen").click()
    await expect(page.locator("#result-path")).to_have_text("Forbindelsen virker — andre kan se og høre dig",
                                                            timeout=MEDIA_TIMEOUT_MS)
    assert await page.evaluate("document.getElementById('loopback').videoWidth") > 0
    first = await page.evaluate(FRAMES_DECODED)
    await page.wait_for_timeout(1000)
    assert await page.evaluate(FRAMES_DECODED) > first > 0
    codecs = await page.evaluate(VIDEO_CODECS)
    assert codecs and set(codecs) == {"video/H264"}, codecs
    assert JS_ERRORS[page] == []
    await context.close()
