"""Scenario (d): paging through 1,000 stored events over HTTP, forwards and backwards.

Only Sottovoce stores anything, so this scenario has no baseline figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bench.api import Api, Session
from bench.sender import Sender
from bench.stats import percentile
from bench.wsconn import connect

HISTORY_STEP = 64_000
BATCH = 50
PAGE = 100


@dataclass(frozen=True, slots=True)
class HistoryResult:
    pages: int
    p50_ms: float
    p99_ms: float


async def fill(url: str, session: Session, room_id: str, events: int) -> int:
    """Store ``events`` messages, in acknowledged batches; return the room's last ``seq``."""
    sender = Sender()
    conn = await connect(url, sender.on_text, session.access_token)
    last = 0
    for batch in range(events // BATCH):
        last = await sender.send(conn, room_id, HISTORY_STEP + batch, BATCH, durable=True)
    await conn.close()
    return last


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
