"""Scenarios (a) fan-out with a stepped offered rate, and (e) latency at light load.

Every member of a room holds one connection; ``SENDERS`` of them send at an even share of the
offered rate, each shifted by an even share of its period, stamped with the step number so that
late deliveries never count for the next step. Rates are counted in deliveries per second
(messages × the other members), the figure that the server's cost and the relay ceiling scale
with.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from bench.clock import wait_until
from bench.stats import StepResult, StepTally, summarize
from bench.steps import Schedule
from bench.targets import BenchRoom
from bench.wire import Stamp, find_stamp, send_frame
from bench.wsconn import Connection, TextHandler, connect

SENDERS = 10
TICK_S = 0.005
# A step waits for its stragglers at most this many step lengths (and at most MAX_DRAIN_S).
DRAIN_STEPS = 2
MAX_DRAIN_S = 5.0
QUIET_S = 0.3


class FanoutRoom:
    """Connections of every member of one room, with the tallies their deliveries go to."""

    def __init__(self, room: BenchRoom) -> None:
        self.room = room
        self.tallies: dict[int, StepTally] = {}
        self.connections: list[Connection] = []
        self.step = 0

    def _receiver(self, member: int) -> TextHandler:
        tallies = self.tallies
        clock = time.monotonic_ns

        def on_text(payload: bytes) -> None:
            stamp = find_stamp(payload)
            if stamp is None:
                if b'"error"' in payload:
                    tally = tallies.get(self.step)
                    if tally is not None:
                        tally.errors += 1
                return
            if stamp.sender != member:
                tally = tallies.get(stamp.step)
                if tally is not None:
                    tally.latencies_ns.append(clock() - stamp.sent_ns)

        return on_text

    async def open(self) -> None:
        for member, token in enumerate(self.room.tokens):
            handler = self._receiver(member)
            self.connections.append(await connect(self.room.url, handler, token))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.connections), return_exceptions=True)

    async def step_at(self, deliveries_per_s: float, seconds: float) -> StepResult:
        self.step += 1
        tally = self.tallies[self.step] = StepTally()
        receivers = len(self.connections) - 1
        per_sender = deliveries_per_s / receivers / SENDERS
        senders = self.connections[:SENDERS]
        cpu = self.room.server_cpu
        cpu_before = cpu() if cpu else 0.0
        await asyncio.gather(
            *(
                self._send(conn, index, per_sender, seconds, tally, receivers)
                for index, conn in enumerate(senders)
            )
        )
        drain_s = min(DRAIN_STEPS * seconds, MAX_DRAIN_S)
        await wait_until(lambda: tally.received >= tally.expected, drain_s)
        used = cpu() - cpu_before if cpu else None
        result = summarize(tally, deliveries_per_s, seconds, used)
        await self._settle(tally, 3 * drain_s)
        return result

    async def _send(
        self,
        conn: Connection,
        sender: int,
        rate: float,
        seconds: float,
        tally: StepTally,
        receivers: int,
    ) -> None:
        room_id, step, clock = self.room.room_id, self.step, time.monotonic_ns
        # Senders are spread evenly over each sender's period, as independent people would be,
        # instead of all sending on the same tick: an offered rate is a steady rate, not bursts
        # of one message per sender at once.
        lead = 1 - sender / SENDERS
        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            due = math.floor(elapsed * rate + lead) - sent
            for _ in range(due):
                conn.send(send_frame(room_id, Stamp(step, sender, sent, clock())))
                sent += 1
            tally.expected += max(due, 0) * receivers
            await asyncio.sleep(TICK_S)

    async def _settle(self, tally: StepTally, limit_s: float) -> None:
        """Wait until the previous step's stragglers stop arriving, so steps stay independent."""
        deadline = time.monotonic() + limit_s
        seen = -1
        while seen != tally.received and time.monotonic() < deadline:
            seen = tally.received
            await asyncio.sleep(QUIET_S)


@asynccontextmanager
async def opened(room: BenchRoom) -> AsyncIterator[FanoutRoom]:
    fanout = FanoutRoom(room)
    try:
        await fanout.open()
        yield fanout
    finally:
        await fanout.close()


async def step_up(label: str, room: BenchRoom, schedule: Schedule) -> list[StepResult]:
    """Raise the offered rate until p99 passes 100 ms (or anything is lost), bounded in steps."""
    return (await step_up_together({label: room}, schedule))[label]


async def step_up_together(
    rooms: dict[str, BenchRoom], schedule: Schedule
) -> dict[str, list[StepResult]]:
    """``step_up`` in each room (of servers running side by side), one step of each in turn.

    Each search is its own, but their steps alternate, so a machine that slows down during the
    run slows every server's steps alike instead of the one measured last.
    """
    results: dict[str, list[StepResult]] = {label: [] for label in rooms}
    async with AsyncExitStack() as stack:
        fanouts = {label: await stack.enter_async_context(opened(r)) for label, r in rooms.items()}
        while True:
            rates = {label: schedule.next_rate(results[label]) for label in rooms}
            if all(rate is None for rate in rates.values()):
                return results
            for label, rate in rates.items():
                if rate is None:
                    continue
                result = await fanouts[label].step_at(rate, schedule.seconds)
                results[label].append(result)
                print(
                    f"  {label} offered {rate:>9,.0f}/s delivered "
                    f"{result.delivered_per_s:>9,.0f}/s p50 {result.p50_ms:7.2f} ms "
                    f"p99 {result.p99_ms:8.2f} ms errors {result.errors} losses {result.losses}"
                    f" server CPU {result.server_cpu_us or 0:.1f} us/delivery",
                    flush=True,
                )


async def light_load(room: BenchRoom, deliveries_per_s: float, seconds: float) -> StepResult:
    async with opened(room) as fanout:
        return await fanout.step_at(deliveries_per_s, seconds)
