"""Reconnect delays: exponential growth under a cap, with full jitter (client/backoff.py)."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.backoff import Backoff


def test_ceilings_double_until_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    assert [backoff.ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


@given(seed=st.integers(), attempts=st.integers(min_value=1, max_value=200))
def test_every_delay_is_between_zero_and_its_ceiling(seed: int, attempts: int) -> None:
    backoff = Backoff(base=0.1, cap=5.0)
    delays = list(itertools.islice(backoff.delays(random.Random(seed)), attempts))
    assert all(0 <= d <= backoff.ceiling(n) for n, d in enumerate(delays))


def test_jitter_spreads_clients_that_failed_together() -> None:
    backoff = Backoff(base=1.0, cap=1.0)
    firsts = {next(backoff.delays(random.Random(seed))) for seed in range(20)}
    assert len(firsts) == 20
