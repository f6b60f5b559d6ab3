"""A listen-only Chromium (no camera/mic permission, so mDNS `.local` host candidates) connects.

Chromium is launched without the fake-media flags, so the page has no media permission and hides
its host address behind an mDNS name. The room must still connect it, from the peer-reflexive
address learnt from the browser's incoming connectivity checks.
"""
from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import async_playwright

from tests.browser.conftest import CHROMIUM
from tests.media.peers import Harness

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(autouse=True)
def fresh_mdns_lock() -> None:
    """aioice keeps one module-level asyncio.Lock for its mDNS socket; each test has its own event
    loop, and a lock that once waited on another loop refuses to wait again (a test artefact: the
    node runs one loop). Drop it while no mDNS socket is open, so aioice makes a new one."""
    from aioice import ice

    state = getattr(ice, "_mdns", None)  # private aioice name, test only
    if state is not None and hasattr(state, "lock") and getattr(state, "protocol", None) is None:
        del state.lock

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]

PAGE = """<!doctype html><meta charset="utf-8"><title>listen</title><script>
window.pc = new RTCPeerConnection({iceServers: []});
pc.addTransceiver('audio', {direction: 'recvonly'});
function gathered() {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise(r => pc.addEventListener('icegatheringstatechange', () => {
    if (pc.iceGatheringState === 'complete') r(); }));
}
window.makeOffer = async () => {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered();
  return pc.localDescription.sdp;
};
window.takeAnswer = async (sdp) => { await pc.setRemoteDescription({type: 'answer', sdp}); };
window.takeOffer = async (sdp) => {
  await pc.setRemoteDescription({type: 'offer', sdp});
  await pc.setLocalDescription(await pc.createAnswer());
  return pc.localDescription.sdp;
};
window.decoded = async () => {
  let n = 0;
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; });
  return n;
};
</script>"""


def end_of_candidates(sdp: str) -> str:
    """Mark every m-section's candidates complete, as Firefox does once gathering is done."""
    out: list[str] = []
    for line in sdp.splitlines():
        if line.startswith("m=") and out and out[-1] != "a=end-of-candidates":
            out.append("a=end-of-candidates")
        out.append(line)
    out.append("a=end-of-candidates")
    return "\r\n".join(out) + "\r\n"


@pytest.mark.parametrize("complete", [False, True], ids=["trickle-open", "end-of-candidates"])
async def test_listen_only_browser_with_mdns_candidates_receives_video(complete: bool) -> None:
    h = Harness()
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await chromium.new_page()
            await page.set_content(PAGE)
            await h.add("pub", encode_video=True)

            answered: list[str] = []

            async def to_browser(pid: str, sdp: str) -> None:
                assert pid == "listener"
                answer = await page.evaluate("sdp => takeOffer(sdp)", sdp)
                await h.room.answer(pid, answer)
                answered.append(answer)

            def on_offer(pid: str, sdp: str) -> None:
                if pid == "listener":
                    asyncio.ensure_future(to_browser(pid, sdp))
                else:
                    h._on_offer(pid, sdp)

            h.room._on_offer = on_offer

            offer = await page.evaluate("makeOffer()")
            candidates = [l for l in offer.splitlines() if l.startswith("a=candidate:")]
            assert candidates, offer
            assert any(".local " in c for c in candidates), \
                f"Chromium offered no mDNS candidate, so this does not test the case: {candidates}"
            if complete:  # aioice prunes the component once the .local names fail to resolve
                offer = end_of_candidates(offer)
            answer = await h.room.join("listener", offer)
            await page.evaluate("sdp => takeAnswer(sdp)", answer)

            start = time.monotonic()
            while True:
                if await page.evaluate("decoded()") > 0:
                    break
                if time.monotonic() - start > 20:
                    state = await page.evaluate("[pc.iceConnectionState, pc.connectionState]")
                    raise AssertionError(f"listener decoded no video in 20 s (browser {state}, "
                                         f"room connected={h.room.participant('listener').connected})")
                await asyncio.sleep(0.2)
            assert answered, "the room never offered the publisher's tracks to the listener"
            assert h.room.participant("listener").connected
        finally:
            await h.close()
            await chromium.close()
