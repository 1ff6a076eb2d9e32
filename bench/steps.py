"""Which offered rates the fan-out scenario tries, and which step it reports."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.stats import StepResult


@dataclass(frozen=True, slots=True)
class Schedule:
    """Offered rates tried, in deliveries per second."""

    first: float
    ceiling: float
    seconds: float
    max_steps: int

    def next_rate(self, results: list[StepResult]) -> float | None:
        """The next rate to offer, or None when the search is over.

        A failing rate is tried a second time before it counts: one scheduling hiccup on a busy
        machine should not end the search. Rates double until a rate fails twice; then one rate
        between the best passing one and that failure (×√2) refines the answer.
        """
        if len(results) >= self.max_steps:
            return None
        if not results:
            return self.first
        tries: dict[float, list[bool]] = {}
        for r in results:
            tries.setdefault(r.offered_per_s, []).append(r.within)
        last = results[-1].offered_per_s
        if tries[last] == [False]:
            return last
        failed = [rate for rate, ok in tries.items() if not any(ok)]
        passed = [rate for rate, ok in tries.items() if any(ok)]
        if not failed:
            rate = max(passed) * 2
            return rate if rate <= self.ceiling else None
        lowest_fail = min(failed)
        below = [rate for rate in passed if rate < lowest_fail]
        if not below:
            return None
        between = max(below) * math.sqrt(2)
        return between if between < lowest_fail and between not in tries else None


def best_step(results: list[StepResult]) -> StepResult:
    """The highest delivered rate within the bar, or the first step (the lowest rate, the one to
    show latencies for) when none met it."""
    passed = [r for r in results if r.within]
    return max(passed, key=lambda r: r.delivered_per_s) if passed else results[0]
