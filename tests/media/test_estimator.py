"""media.estimator / media/_estimator.c: aiortc's REMB estimator in C gives aiortc's answers.

Every test feeds the C `Estimator` and the installed aiortc's `RemoteBitrateEstimator` the same
packets and compares what `add` returns and the filters' state after every packet, so a change in
aiortc's estimator fails here (media/ is pinned to aiortc 1.16.0; media/internals.py).
"""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from aiortc.rate import RemoteBitrateEstimator
from hypothesis import given, settings
from hypothesis import strategies as st

from media import estimator, outlet
from media import internals as ix
from tests.media.twins import SSRC, Link, Twin, make_link, rtp, sessions

NTP_MS = 3_900_000_000_000  # arrival times are NTP milliseconds, as aiortc's receiver gives them
FRAME_UNITS = (1 << 18) // 30  # abs-send-time units (6.18 fixed point seconds) between 30 fps frames


def test_the_c_estimator_is_built() -> None:
    # .ci/run installs gcc and Python's headers; without them aiortc's estimator is used, slower
    assert estimator.FAST, "media._estimator is not built: install gcc and python3-dev, then `pip install -e .` again"
    assert type(estimator.new()).__module__ == "media._estimator"


def aiortc_state(ref: RemoteBitrateEstimator) -> dict[str, Any]:
    """aiortc's estimator state under the names `Estimator.snapshot()` uses."""
    return {"offset": ref.estimator._offset, "slope": ref.estimator.slope, "avg_noise": ref.estimator.avg_noise,
            "var_noise": ref.estimator.var_noise, "num_of_deltas": ref.estimator._num_of_deltas,
            "threshold": ref.detector.threshold, "hypothesis": ref.detector.hypothesis.value,
            "current_bitrate": ref.rate_control.current_bitrate, "state": ref.rate_control.state.value,
            "var_max_kbps": ref.rate_control.var_max_bitrate_kbps}


def outcome(est: Any, packet: tuple[int, int, int, int]) -> Any:
    """What add() gives for one packet: its answer, or the type of what it raised."""
    arrival, abs_send_time, size, ssrc = packet
    try:
        return est.add(arrival_time_ms=arrival, abs_send_time=abs_send_time, payload_size=size, ssrc=ssrc)
    except ArithmeticError as e:  # aiortc divides by zero when a stream's bitrate has fallen to 0
        return type(e)


def compare(packets: list[tuple[int, int, int, int]]) -> list[Any]:
    """Feed both estimators; assert the same answers and state after every packet; the answers."""
    ours, ref = estimator.new(), RemoteBitrateEstimator()
    answers = []
    for i, packet in enumerate(packets):
        got, want = outcome(ours, packet), outcome(ref, packet)
        assert got == want, f"packet {i} {packet}: {got} != aiortc's {want}"
        assert ours.snapshot() == aiortc_state(ref), f"state after packet {i} {packet}"
        answers.append(got)
    return answers


def camera(seconds: float, fps: int = 30, packets_per_frame: int = 2, size: int = 1100, start: int = NTP_MS,
           queue_growth_ms: float = 0.0, ssrc: int = SSRC) -> list[tuple[int, int, int, int]]:
    """A camera's packets as the node receives them: frames 1/fps apart, several packets each;
    with queue_growth_ms > 0 each frame arrives that much later than the one before (a link
    that is overused)."""
    packets = []
    delay = 0.0
    for frame in range(int(seconds * fps)):
        sent_ms = frame * 1000 / fps
        delay += queue_growth_ms
        for k in range(packets_per_frame):
            abs_send_time = (frame * FRAME_UNITS + k * 40) & 0xFFFFFF
            packets.append((start + int(sent_ms + delay) + k, abs_send_time, size, ssrc))
    return packets


def test_a_steady_camera_gets_the_same_rising_estimates_as_aiortc() -> None:
    answers = compare(camera(8))
    estimates = [a for a in answers if a is not None]
    assert len(estimates) >= 8  # about one every 500 ms once the rate is known (after 3 s)
    assert all(ssrcs == [SSRC] for _, ssrcs in estimates)
    assert estimates[-1][0] >= estimates[len(estimates) // 2][0]


def test_an_overused_link_lowers_the_estimate_as_aiortc_does() -> None:
    steady = camera(6)
    congested = camera(3, start=steady[-1][0] + 33, queue_growth_ms=4.0)
    # the sender's clock goes on where the steady part stopped
    offset = steady[-1][1] + FRAME_UNITS
    congested = [(t, (a + offset) & 0xFFFFFF, s, ssrc) for t, a, s, ssrc in congested]
    ours = estimator.new()
    answers = compare(steady + congested)
    for packet in steady + congested:
        outcome(ours, packet)
    assert ours.snapshot()["hypothesis"] == 2  # aiortc's BandwidthUsage.OVERUSING
    before = [a[0] for a in answers[:len(steady)] if a is not None]
    after = [a[0] for a in answers[len(steady):] if a is not None]
    assert before and after and min(after) < before[-1] * 0.9


def test_the_sender_clock_wrapping_and_several_ssrcs_match_aiortc() -> None:
    start = (1 << 24) - 5 * FRAME_UNITS  # abs-send-time wraps every 64 s
    packets = [(t, (a + start) & 0xFFFFFF, s, ssrc) for t, a, s, ssrc in camera(5)]
    restarted = camera(2, start=packets[-1][0] + 40, ssrc=SSRC + 1)
    answers = compare(packets + restarted)
    assert answers[-1] is None or answers[-1][1] in ([SSRC, SSRC + 1], [SSRC + 1])
    last = [a for a in answers if a is not None][-1]
    assert last[1] == [SSRC, SSRC + 1]  # in the order first seen, as aiortc's dict keeps them


packet_steps = st.tuples(
    st.one_of(st.integers(0, 40), st.integers(0, 5000), st.integers(-2000, 0)),  # arrival gap, ms (the wall clock may step back)
    st.one_of(st.sampled_from([0, 40, FRAME_UNITS, 2 * FRAME_UNITS]), st.integers(0, 1 << 24)),  # sender clock step
    st.integers(0, 1500),  # payload size
    st.integers(0, 2))  # which SSRC


def from_steps(steps: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Packets from `packet_steps`: arrival gaps and sender clock steps added up, SSRCs by index."""
    arrival, clock, packets = NTP_MS, 0, []
    for gap, step, size, which in steps:
        arrival += gap
        clock = (clock + step) & 0xFFFFFF
        packets.append((arrival, clock, size, (SSRC, 1, 0xFFFFFFFF)[which]))
    return packets


@given(st.lists(packet_steps, max_size=300))
@settings(max_examples=150, deadline=None)
def test_any_packet_sequence_gives_aiortcs_answers(steps: list[tuple[int, int, int, int]]) -> None:
    compare(from_steps(steps))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-3, 3), st.integers(500, 1200)), min_size=200, max_size=600))
@settings(max_examples=40, deadline=None)
def test_a_jittery_camera_gives_aiortcs_answers(jitter: list[tuple[int, int, int]]) -> None:
    """Realistic traffic, long enough to reach the rate control: 30 fps frames of two packets
    whose arrival jitters and drifts by a few ms."""
    packets, drift = [], 0
    for frame, (late, drift_step, size) in enumerate(jitter):
        drift = max(0, drift + drift_step)
        for k in range(2):
            packets.append((NTP_MS + frame * 33 + drift + late + k, (frame * FRAME_UNITS + k * 40) & 0xFFFFFF, size,
                            SSRC))
    compare(packets)


def test_a_camera_off_for_ten_minutes_gives_aiortcs_answers() -> None:
    before = camera(4)
    after = camera(4, start=before[-1][0] + 600_000)
    clock = before[-1][1] + 600 * (1 << 18)  # the sender's clock ran on too
    compare(before + [(t, (a + clock) & 0xFFFFFF, size, ssrc) for t, a, size, ssrc in after])


@given(st.lists(st.tuples(st.integers(-(1 << 34), 1 << 34), st.integers(0, (1 << 24) - 1), st.integers(0, 0xFFFF),
                          st.integers(0, 0xFFFFFFFF)), max_size=50))
@settings(max_examples=200, deadline=None)
def test_clock_jumps_of_months_are_taken_at_once(jumps: list[tuple[int, int, int, int]]) -> None:
    """A wall clock that jumps by up to 200 days between packets: aiortc's rate counter would walk
    every millisecond of the gap in Python (minutes of a blocked event loop); the C one clears its
    window at once, and every answer stays well formed."""
    est, arrival = estimator.new(), NTP_MS
    for gap, abs_send_time, size, ssrc in jumps:
        arrival = min(max(0, arrival + gap), (1 << 44) - 1)
        got = outcome(est, (arrival, abs_send_time, size, ssrc))
        assert got is None or got is ZeroDivisionError or (isinstance(got[0], int) and ssrc in got[1])


@pytest.mark.parametrize("seed", range(3))
def test_long_erratic_streams_give_aiortcs_answers_to_the_last_bit(seed: int) -> None:
    """Thousands of packets with erratic timing keep the rate control deciding again and again, so
    rounding differences add up and show (a compiler's x * x for libm's pow(x, 2) does, here)."""
    rng = random.Random(seed)
    arrival, clock, packets = NTP_MS, rng.randrange(1 << 24), []
    for _ in range(6000):
        arrival += rng.choice([0, 0, 1, 2, 5, 16, 33, 34, 40, rng.randrange(300)])
        clock = (clock + rng.choice([0, 0, 2200, 2200, 2250, rng.randrange(20000)])) & 0xFFFFFF
        packets.append((arrival, clock, rng.randrange(1, 1200), rng.choice([SSRC, 1, 0xFFFFFFFF])))
    answers = compare(packets)
    assert sum(a is not None for a in answers) > 1000


@pytest.mark.parametrize("bad", [
    {"abs_send_time": -1}, {"abs_send_time": 1 << 24}, {"ssrc": -1}, {"ssrc": 1 << 32}, {"payload_size": -1},
    {"payload_size": 1 << 16}, {"arrival_time_ms": -1}, {"arrival_time_ms": 1 << 44}, {"arrival_time_ms": 1 << 60}, {"arrival_time_ms": "now"},
    {"abs_send_time": 1.5}, {"ssrc": None}])
def test_bad_arguments_are_refused_and_change_nothing(bad: dict[str, Any]) -> None:
    ours, twin = estimator.new(), estimator.new()
    packets = camera(4)
    for packet in packets[:150]:
        outcome(ours, packet)
        outcome(twin, packet)
    args = {"arrival_time_ms": packets[150][0], "abs_send_time": packets[150][1], "payload_size": 1000,
            "ssrc": SSRC} | bad
    with pytest.raises((ValueError, TypeError, OverflowError)):
        ours.add(**args)
    with pytest.raises(TypeError):
        ours.add(1, 2, 3)
    assert ours.snapshot() == twin.snapshot()
    assert [outcome(ours, p) for p in packets[150:]] == [outcome(twin, p) for p in packets[150:]]


def test_a_video_receiver_gets_our_estimator_and_an_audio_receiver_none() -> None:
    async def go() -> None:
        for kind in ("video", "audio"):
            link = make_link()
            twin = Twin(kind, True, link)
            try:
                est = twin.pub._estimator
                assert est is getattr(twin.rx, ix.RX_BITRATE_ESTIMATOR)
                assert (type(est).__module__ == "media._estimator") if kind == "video" else est is None
            finally:
                twin.close()
                link.tx.close()
                link.rx.close()

    asyncio.run(go())


def test_the_c_receive_path_feeds_the_estimator_directly(links: tuple[Link, Link]) -> None:
    """media._inlet calls the C estimator through its capsule: a publication's estimator sees the
    packets the C path handles, as it does those of the Python path."""
    async def go() -> None:
        twins = [Twin("video", fast, link) for fast, link in zip((False, True), links)]
        try:
            tx, *rx = sessions()
            for twin in twins:
                await twin.start()
                twin.pub._estimator = twin.pub._estimator.real  # unwrapped, so the capsule is used
            packets = [tx.protect(rtp(i, 3000 * i, abs_time=(i * FRAME_UNITS) & 0xFFFFFF)) for i in range(1, 25)]
            for p in packets:  # 7 ms apart: each packet its own timestamp group, not a burst
                for twin, session in zip(twins, rx):
                    twin.feed(p, session)
                await asyncio.sleep(0.007)
            slow, fast = (twin.pub._estimator.snapshot() for twin in twins)
            assert twins[1].fast is not None and twins[1].fast.handled >= 20
            assert fast["num_of_deltas"] == slow["num_of_deltas"] == len(packets) - 2
        finally:
            for twin in twins:
                twin.close()

    asyncio.run(go())


def counter_state(est: RemoteBitrateEstimator) -> tuple[Any, ...]:
    c = est.incoming_bitrate
    return (c._origin_ms, c._origin_index, c._total.count, c._total.value,
            [(b.count, b.value) for b in c._buckets])


def compare_fallback(packets: list[tuple[int, int, int, int]]) -> None:
    """The fallback (aiortc's estimator with media.estimator's rate counter) against aiortc's own."""
    ours, ref = estimator.aiortcs(), RemoteBitrateEstimator()
    for i, packet in enumerate(packets):
        assert outcome(ours, packet) == outcome(ref, packet), f"packet {i} {packet}"
        assert aiortc_state(ours) == aiortc_state(ref), f"state after packet {i} {packet}"
    assert counter_state(ours) == counter_state(ref)


@given(st.lists(packet_steps, max_size=200))
@settings(max_examples=60, deadline=None)
def test_the_fallback_gives_aiortcs_answers(steps: list[tuple[int, int, int, int]]) -> None:
    compare_fallback(from_steps(steps))


@given(st.lists(st.tuples(st.integers(0, 1500), st.one_of(st.integers(0, 30), st.integers(900, 5000))), max_size=60))
@settings(max_examples=100, deadline=None)
def test_the_fallbacks_rate_counter_ends_where_aiortcs_does(steps: list[tuple[int, int]]) -> None:
    from aiortc.rate import RateCounter

    ours, ref = estimator._RateCounter(1000, 8000), RateCounter(1000, 8000)
    now = NTP_MS
    for value, gap in steps:
        now += gap
        for counter in (ours, ref):
            counter.add(value, now)
        assert ours.rate(now + gap // 2) == ref.rate(now + gap // 2)
        assert (ours._origin_ms, ours._origin_index, [(b.count, b.value) for b in ours._buckets]) == \
            (ref._origin_ms, ref._origin_index, [(b.count, b.value) for b in ref._buckets])


def test_the_fallback_takes_a_camera_pause_at_once() -> None:
    before = camera(4)
    after = [(t + 600_000, a, size, ssrc) for t, a, size, ssrc in camera(1, start=before[-1][0] + 33)]
    compare_fallback(before + after)  # aiortc's own walks the ten minutes, once, here
    est = estimator.aiortcs()
    for packet in before:
        outcome(est, packet)
    start = time.process_time()
    outcome(est, (before[-1][0] + 100_000_000, 0, 1000, SSRC))  # 28 hours later: aiortc's own takes ~25 s
    assert time.process_time() - start < 1.0


def test_without_the_c_estimator_the_node_says_so_and_uses_aiortcs(monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(estimator, "FAST", False)
    fallback = estimator.new()
    assert isinstance(fallback, RemoteBitrateEstimator) and type(fallback.incoming_bitrate).__name__ == "_RateCounter"
    with caplog.at_level("WARNING", logger="media.outlet"):
        outlet.warn_if_slow()
    assert [r.event for r in caplog.records] == ["media_slow_path"]  # type: ignore[attr-defined]
    assert "media._estimator" in caplog.text and "media._inlet" not in caplog.text
