"""Reconnect and retry delays: exponential with full jitter, so clients that lost the same server
at the same moment do not all come back in the same instant."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float = 0.25
    cap: float = 10.0
    factor: float = 2.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay before try number ``attempt`` (0-based) after a failure."""
        return min(self.cap, self.base * self.factor ** min(attempt, 64))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        draw = rng or random.Random()
        attempt = 0
        while True:
            yield draw.uniform(0, self.ceiling(attempt))
            attempt += 1
