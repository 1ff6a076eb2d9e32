"""Which offered rates the fan-out scenario tries, and which step it reports."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.stats import StepResult


@dataclass(frozen=True, slots=True)
class Schedule:
    """Offered rates tried, in deliveries per second: doubling, then one step to refine."""

    first: float
    ceiling: float
    seconds: float
    max_steps: int

    def next_rate(self, results: list[StepResult]) -> float | None:
        if len(results) >= self.max_steps:
            return None
        if not results:
            return self.first
        passed = [r for r in results if r.within]
        failed = [r for r in results if not r.within]
        if not failed:
            rate = results[-1].offered_per_s * 2
            return rate if rate <= self.ceiling else None
        if not passed:
            return None
        best = max(r.offered_per_s for r in passed)
        lowest_fail = min(r.offered_per_s for r in failed)
        between = best * math.sqrt(2)
        tried = {r.offered_per_s for r in results}
        return between if between < lowest_fail and between not in tried else None


def best_step(results: list[StepResult]) -> StepResult:
    """The highest delivered rate within the bar, or the first step when none met it."""
    passed = [r for r in results if r.within]
    return max(passed, key=lambda r: r.delivered_per_s) if passed else results[0]
