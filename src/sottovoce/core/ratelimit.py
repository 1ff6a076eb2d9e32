"""Token buckets with the clock passed in, and a bounded map of them keyed by user or address."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens per second refill a bucket of ``burst``; each request takes one."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        if self.tokens < 0 or self.tokens > self.burst:
            self.tokens = self.burst

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens: 0.0 when allowed, else the seconds to wait (nothing is taken),
        rounded up to whole milliseconds so that a refusal never advertises a wait of zero."""
        # A clock that went backwards refills nothing. Compared inline rather than with min and
        # max: every WebSocket frame takes a token, and the calls cost more than the arithmetic.
        tokens = self.tokens
        if now > self.updated:
            tokens += (now - self.updated) * self.rate
            if tokens > self.burst:
                tokens = self.burst
            self.updated = now
        if tokens >= cost:
            self.tokens = tokens - cost
            return 0.0
        self.tokens = tokens
        return math.ceil((cost - tokens) / self.rate * 1000) / 1000


class BucketMap:
    """One bucket per key, forgetting the least recently used keys beyond ``max_keys``.

    A forgotten key starts again with a full bucket, which only errs on the lenient side, and keeps
    memory bounded however many addresses show up.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, updated=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)
