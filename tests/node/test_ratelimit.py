"""Login backoff and token buckets, on a controllable clock."""
from __future__ import annotations

from node.clock import ManualClock
from node.ratelimit import KeyedBuckets, LoginLimiter, TokenBucket, source_key


def test_backoff_doubles_and_caps() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(clock, free=3, base=10, cap=40)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.failed("a")
    assert limiter.retry_after("a") == 10
    clock.advance(10)
    limiter.failed("a")
    assert limiter.retry_after("a") == 20
    clock.advance(20)
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 40  # capped
    limiter.succeeded("a")
    assert limiter.retry_after("a") == 0


def test_failures_are_forgotten_after_a_quiet_hour() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(clock, free=1, base=10, forget_after=3600)
    limiter.failed("a")
    clock.advance(3601)
    assert limiter.retry_after("a") == 0


def test_source_key_hides_the_address() -> None:
    key = source_key("192.168.1.50", b"s" * 32)
    assert "192" not in key and key == source_key("192.168.1.50", b"s" * 32)
    assert key != source_key("192.168.1.50", b"t" * 32)


def test_token_bucket_refills() -> None:
    clock = ManualClock()
    bucket = TokenBucket(clock, rate=1, burst=2)
    assert bucket.take() and bucket.take() and not bucket.take()
    clock.advance(1)
    assert bucket.take()


def test_keyed_buckets_are_bounded_per_key() -> None:
    clock = ManualClock()
    buckets = KeyedBuckets(clock, rate=0, burst=1)
    assert buckets.take("a") and not buckets.take("a") and buckets.take("b")
