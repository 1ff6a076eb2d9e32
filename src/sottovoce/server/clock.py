"""Wall-clock time in the units the records use, behind one seam that tests can replace."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


def now_ms(clock: Clock = time.time) -> int:
    return int(clock() * 1000)
