"""Rate limits kept in memory only: login backoff and token buckets.

Sources are keyed by an HMAC of the address under a per-process random key, so not even memory
holds an address in the clear, and nothing is ever written to disk.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from node.clock import Clock

MAX_KEYS = 50_000


def source_key(address: str | None, salt: bytes) -> str:
    """An opaque key for a client address; the address itself is not kept."""
    return hmac.new(salt, (address or "?").encode(), hashlib.sha256).hexdigest()[:32]


@dataclass
class _Failures:
    count: int
    locked_until: float
    last: float


class LoginLimiter:
    """Failed-login backoff per account and per source.

    After ``free`` failures, each further failure locks the key for ``base * 2**k`` seconds (capped),
    and a success clears the account's count.
    """

    def __init__(self, clock: Clock, free: int = 5, base: float = 30.0, cap: float = 900.0,
                 forget_after: float = 3600.0) -> None:
        self._clock, self.free, self.base, self.cap, self.forget_after = clock, free, base, cap, forget_after
        self._failures: OrderedDict[str, _Failures] = OrderedDict()
        self.salt = secrets.token_bytes(32)

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of ``keys`` may try again (0 when allowed now)."""
        now = self._clock.now()
        wait = 0.0
        for key in keys:
            entry = self._failures.get(key)
            if entry is None:
                continue
            if now - entry.last > self.forget_after:
                del self._failures[key]
                continue
            wait = max(wait, entry.locked_until - now)
        return max(0.0, wait)

    def failed(self, *keys: str) -> None:
        """Count a failure against every key."""
        now = self._clock.now()
        for key in keys:
            entry = self._failures.pop(key, None) or _Failures(0, 0.0, now)
            entry.count += 1
            entry.last = now
            if entry.count >= self.free:
                entry.locked_until = now + min(self.cap, self.base * 2 ** (entry.count - self.free))
            self._failures[key] = entry
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (the account) after a good login."""
        self._failures.pop(key, None)


class TokenBucket:
    """A token bucket: ``rate`` tokens a second, bursting to ``burst``."""

    def __init__(self, clock: Clock, rate: float, burst: float) -> None:
        self._clock, self.rate, self.burst = clock, rate, burst
        self._tokens = burst
        self._stamp = clock.now()

    def take(self, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough."""
        now = self._clock.now()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False


class KeyedBuckets:
    """One token bucket per opaque key, bounded in number (for anonymous endpoints)."""

    def __init__(self, clock: Clock, rate: float, burst: float) -> None:
        self._clock, self.rate, self.burst = clock, rate, burst
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.salt = secrets.token_bytes(32)

    def take(self, key: str, cost: float = 1.0) -> bool:
        bucket = self._buckets.pop(key, None) or TokenBucket(self._clock, self.rate, self.burst)
        self._buckets[key] = bucket
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)
        return bucket.take(cost)
