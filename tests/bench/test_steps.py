"""Which offered rates the fan-out scenario tries and which one it reports."""

from __future__ import annotations

from bench.stats import StepResult, StepTally, percentile, summarize
from bench.steps import Schedule, best_step


def step(rate: float, p99_ms: float, losses: int = 0) -> StepResult:
    return StepResult(rate, rate, p99_ms / 2, p99_ms, errors=0, losses=losses)


def test_rate_doubles_while_every_step_is_within_the_bar() -> None:
    schedule = Schedule(first=1_000, ceiling=10_000, seconds=1, max_steps=10)
    assert schedule.next_rate([]) == 1_000
    assert schedule.next_rate([step(1_000, 5), step(2_000, 8)]) == 4_000


def test_a_failing_rate_is_tried_once_more_before_it_counts() -> None:
    schedule = Schedule(first=1_000, ceiling=100_000, seconds=1, max_steps=10)
    assert schedule.next_rate([step(1_000, 5), step(2_000, 250)]) == 2_000
    assert schedule.next_rate([step(1_000, 5), step(2_000, 250), step(2_000, 9)]) == 4_000


def test_after_a_confirmed_failure_one_step_between_is_tried_then_it_stops() -> None:
    schedule = Schedule(first=1_000, ceiling=100_000, seconds=1, max_steps=10)
    results = [step(1_000, 5), step(2_000, 9), step(4_000, 250), step(4_000, 180)]
    between = schedule.next_rate(results)
    assert between is not None and 2_000 < between < 4_000
    assert schedule.next_rate([*results, step(between, 40)]) is None
    assert schedule.next_rate([*results, step(between, 400), step(between, 300)]) is None


def test_search_ends_when_even_the_first_rate_fails_twice() -> None:
    schedule = Schedule(first=1_000, ceiling=100_000, seconds=1, max_steps=10)
    assert schedule.next_rate([step(1_000, 500), step(1_000, 400)]) is None


def test_steps_are_bounded_by_ceiling_and_count() -> None:
    assert Schedule(1_000, 3_000, 1, 10).next_rate([step(1_000, 1), step(2_000, 1)]) is None
    assert Schedule(1_000, 10**9, 1, 2).next_rate([step(1_000, 1), step(2_000, 1)]) is None


def test_a_lossy_step_counts_as_failed_even_with_low_latency() -> None:
    assert not step(1_000, 1, losses=3).within
    assert best_step([step(1_000, 1), step(2_000, 1, losses=3)]).offered_per_s == 1_000


def test_best_step_is_the_fastest_within_the_bar_or_else_the_first() -> None:
    assert best_step([step(1_000, 5), step(4_000, 300), step(2_800, 60)]).offered_per_s == 2_800
    assert best_step([step(1_000, 150), step(2_000, 400)]).offered_per_s == 1_000


def test_summary_counts_losses_and_nearest_rank_percentiles() -> None:
    tally = StepTally(expected=200, latencies_ns=[n * 1_000_000 for n in range(1, 101)])
    result = summarize(tally, offered_per_s=200, seconds=2)
    assert (result.losses, result.delivered_per_s) == (100, 50)
    assert (result.p50_ms, result.p99_ms) == (50, 99)
    assert percentile([], 0.99) == 0


def test_server_cpu_is_spread_over_the_deliveries_received() -> None:
    tally = StepTally(expected=400, latencies_ns=[1_000_000] * 200)
    assert summarize(tally, 200, 2, server_cpu_s=0.05).server_cpu_us == 250
    assert summarize(tally, 200, 2).server_cpu_us is None
    assert summarize(StepTally(expected=10), 200, 2, server_cpu_s=0.05).server_cpu_us is None
