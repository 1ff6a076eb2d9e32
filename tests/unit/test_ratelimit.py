from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.ratelimit import BucketMap, TokenBucket


def test_burst_is_allowed_then_requests_wait() -> None:
    bucket = TokenBucket(rate=2, burst=3, updated=0)
    assert [bucket.take(0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0) == 0.5


def test_tokens_refill_at_the_rate_up_to_the_burst() -> None:
    bucket = TokenBucket(rate=2, burst=3, updated=0)
    for _ in range(3):
        bucket.take(0)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0
    assert bucket.take(100) == 0.0
    assert bucket.tokens == 2.0


def test_clock_going_backwards_grants_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1, updated=10)
    assert bucket.take(10) == 0.0
    assert bucket.take(5) > 0


@given(st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=200))
def test_never_more_than_burst_plus_rate_times_elapsed(times: list[float]) -> None:
    bucket = TokenBucket(rate=5, burst=10, updated=0)
    times.sort()
    allowed = sum(1 for now in times if bucket.take(now) == 0.0)
    assert allowed <= 10 + 5 * times[-1] + 1e-9


def test_keys_have_separate_buckets() -> None:
    buckets = BucketMap(rate=1, burst=1)
    assert buckets.take("a", 0) == 0.0
    assert buckets.take("a", 0) > 0
    assert buckets.take("b", 0) == 0.0


def test_bucket_map_stays_bounded_by_forgetting_the_oldest_key() -> None:
    buckets = BucketMap(rate=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        buckets.take(key, 0)
    assert len(buckets) == 2
    assert buckets.take("a", 0) == 0.0
    assert buckets.take("c", 0) > 0


def test_a_refusal_never_advertises_a_zero_wait() -> None:
    bucket = TokenBucket(rate=1000.0, burst=1.0)
    assert bucket.take(now=0.0) == 0.0
    # Refilled to 0.9999 tokens: the true wait is 0.1 µs, which must not round to "retry now".
    assert bucket.take(now=0.0009999) == 0.001


def _reference_take(bucket: list[float], rate: float, burst: float, now: float) -> float:
    """The bucket's rule written plainly, over [tokens, updated]."""
    elapsed = max(0.0, now - bucket[1])
    bucket[0] = min(burst, bucket[0] + elapsed * rate)
    bucket[1] = max(bucket[1], now)
    if bucket[0] >= 1.0:
        bucket[0] -= 1.0
        return 0.0
    return math.ceil((1.0 - bucket[0]) / rate * 1000) / 1000


@given(
    st.floats(min_value=0.5, max_value=1000),
    st.floats(min_value=1, max_value=100),
    st.lists(st.floats(min_value=0, max_value=100), max_size=200),
)
def test_take_follows_the_rule_whatever_the_clock_does(
    rate: float, burst: float, times: list[float]
) -> None:
    # Unsorted times: the clock may go backwards between takes.
    bucket = TokenBucket(rate=rate, burst=burst, updated=0)
    reference = [burst, 0.0]
    for now in times:
        assert bucket.take(now) == _reference_take(reference, rate, burst, now)
        assert (bucket.tokens, bucket.updated) == (reference[0], reference[1])


def test_tokens_given_above_the_burst_are_capped() -> None:
    bucket = TokenBucket(rate=1, burst=2, tokens=50, updated=0)
    assert [bucket.take(0) for _ in range(3)] == [0.0, 0.0, 1.0]
