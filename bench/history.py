"""Scenario (d): paging through 1,000 stored events over HTTP, forwards and backwards.

Only Sottovoce stores anything, so this scenario has no baseline figure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.api import Api, Session
from bench.stats import percentile
from bench.wire import Stamp, encode_body

HISTORY_STEP = 64_000
PARALLEL = 8
PAGE = 100


@dataclass(frozen=True, slots=True)
class HistoryResult:
    pages: int
    p50_ms: float
    p99_ms: float


async def fill(api: Api, session: Session, room_id: str, events: int) -> int:
    """Store ``events`` messages over HTTP; return the room's last ``seq``.

    HTTP rather than the WebSocket: the per-connection frame limit (64/s) would make filling take
    longer than the measurement, and the per-user HTTP limit is raised for the benchmark.
    """
    gate = asyncio.Semaphore(PARALLEL)

    async def one(n: int) -> int:
        body = {
            "client_id": f"history.{n}",
            "body": encode_body(room_id, Stamp(HISTORY_STEP, 0, n, 0)),
        }
        async with gate:
            answer = await api.call("POST", f"/rooms/{room_id}/events", session, body)
        seq: int = answer["event"]["seq"]
        return seq

    return max(await asyncio.gather(*(one(n) for n in range(events))))


async def page_through(
    api: Api, session: Session, room_id: str, last_seq: int, events: int, rounds: int
) -> HistoryResult:
    timings: list[int] = []
    path = f"/rooms/{room_id}/events"
    first = last_seq - events
    for _ in range(rounds):
        cursor = first
        while cursor < last_seq:
            started = time.perf_counter_ns()
            answer = await api.call(
                "GET", path, session, params={"after": str(cursor), "limit": str(PAGE)}
            )
            timings.append(time.perf_counter_ns() - started)
            cursor = answer["events"][-1]["seq"]
        cursor = last_seq + 1
        while cursor > first + 1:
            started = time.perf_counter_ns()
            answer = await api.call(
                "GET", path, session, params={"before": str(cursor), "limit": str(PAGE)}
            )
            timings.append(time.perf_counter_ns() - started)
            cursor = answer["events"][0]["seq"]
    ordered = sorted(timings)
    return HistoryResult(
        pages=len(timings),
        p50_ms=percentile(ordered, 0.5) / 1e6,
        p99_ms=percentile(ordered, 0.99) / 1e6,
    )
