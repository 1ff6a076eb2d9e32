"""Latency bookkeeping for one measured step: deliveries, losses, percentiles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def percentile(sorted_values: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list; 0 for an empty one."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(slots=True)
class StepTally:
    """Deliveries of one step: every receiver appends the latency of every message it gets."""

    expected: int = 0
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0

    @property
    def received(self) -> int:
        return len(self.latencies_ns)

    @property
    def losses(self) -> int:
        return max(0, self.expected - self.received)


@dataclass(frozen=True, slots=True)
class StepResult:
    offered_per_s: float
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    losses: int
    # Server CPU time (all threads) per delivery during the step, in microseconds.
    server_cpu_us: float | None = None

    @property
    def within(self) -> bool:
        """Whether this step meets the fan-out bar: p99 at most 100 ms and nothing lost."""
        return self.p99_ms <= 100.0 and self.losses == 0 and self.errors == 0


def summarize(
    tally: StepTally, offered_per_s: float, seconds: float, server_cpu_s: float | None = None
) -> StepResult:
    ordered = sorted(tally.latencies_ns)
    per_delivery = None
    if server_cpu_s is not None and tally.received:
        per_delivery = server_cpu_s / tally.received * 1e6
    return StepResult(
        offered_per_s=offered_per_s,
        delivered_per_s=tally.received / seconds,
        p50_ms=percentile(ordered, 0.50) / 1e6,
        p99_ms=percentile(ordered, 0.99) / 1e6,
        errors=tally.errors,
        losses=tally.losses,
        server_cpu_us=per_delivery,
    )
