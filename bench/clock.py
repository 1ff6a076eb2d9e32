"""Bounded waiting for conditions that frame callbacks change."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

POLL_S = 0.02


async def wait_until(done: Callable[[], bool], limit_s: float) -> bool:
    """Wait until ``done()`` holds or ``limit_s`` passed; return whether it holds.

    Polling, not an ``asyncio.Event``: the conditions are counters bumped by picows callbacks on
    every delivery, and checking them 50 times a second costs less than signalling per frame.
    """
    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True
