"""Scenario (c): a reconnect storm. Every client drops at once, messages are sent meanwhile, and
every client reconnects at once; resumed means it has all the messages it missed.

Sottovoce clients resume from their cursor (``since``); the relay stores nothing, so for it
"resumed" only means connected again and losses are not applicable.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.clock import wait_until
from bench.sender import Sender
from bench.targets import BenchRoom
from bench.wire import find_stamp
from bench.wsconn import CONNECT_ERRORS, Connection, TextHandler, connect

MARKER_STEP = 65_000
MISSED_STEP = 65_001
MISSED = 10
ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class StormResult:
    clients: int
    resumed: int
    resumed_s: float
    losses: int | None
    failed_attempts: int
    # The server's CPU time from the reconnect until all had resumed, per client (None: not
    # measured): what a storm costs the server, less noisy than its duration on a shared machine.
    server_cpu_per_client_ms: float | None


class StormClient:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self.missed_mask = 0
        self.resumed_at: float | None = None
        self.connection: Connection | None = None

    @property
    def got(self) -> int:
        return self.missed_mask.bit_count()

    def on_text(self, payload: bytes) -> None:
        stamp = find_stamp(payload)
        if stamp is not None and stamp.step == MISSED_STEP:
            self.missed_mask |= 1 << stamp.counter
            if self.got == MISSED and self.resumed_at is None:
                self.resumed_at = time.monotonic()


async def reconnect_storm(
    room: BenchRoom, tokens: list[str | None], durable: bool, limit_s: float
) -> StormResult:
    clients = [StormClient(t) for t in tokens]
    sender = Sender()
    sender_conn = await connect(room.url, sender.on_text, room.tokens[0])
    gate = asyncio.Semaphore(200)

    async def first_connect(client: StormClient) -> None:
        async with gate:
            client.connection = await connect(room.url, client.on_text, client.token)

    await asyncio.gather(*(first_connect(c) for c in clients))
    cursor = await sender.send(sender_conn, room.room_id, MARKER_STEP, 1, durable)
    for client in clients:
        assert client.connection is not None
        client.connection.drop()
    await asyncio.gather(*(c.connection.closed for c in clients if c.connection))
    await sender.send(sender_conn, room.room_id, MISSED_STEP, MISSED, durable)

    failed_attempts = 0
    server_cpu = room.server_cpu
    cpu_before = server_cpu() if server_cpu else 0.0
    started = time.monotonic()
    deadline = started + limit_s

    async def resume(client: StormClient) -> None:
        nonlocal failed_attempts
        since = {room.room_id: cursor} if durable else None
        handler: TextHandler = client.on_text
        for attempt in range(ATTEMPTS):
            try:
                client.connection = await connect(
                    room.url,
                    handler,
                    client.token,
                    since,
                    limit_s=max(deadline - time.monotonic(), 1),
                )
            except CONNECT_ERRORS:
                failed_attempts += 1
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if not durable:
                client.resumed_at = time.monotonic()
            return

    await asyncio.gather(*(resume(c) for c in clients))
    await wait_until(
        lambda: all(c.resumed_at is not None for c in clients), deadline - time.monotonic()
    )
    cpu = (server_cpu() - cpu_before) / len(clients) * 1e3 if server_cpu else None
    done = [c.resumed_at for c in clients if c.resumed_at is not None]
    result = StormResult(
        clients=len(clients),
        resumed=len(done),
        resumed_s=(max(done) - started) if done else float("nan"),
        losses=sum(MISSED - c.got for c in clients) if durable else None,
        failed_attempts=failed_attempts,
        server_cpu_per_client_ms=cpu,
    )
    await asyncio.gather(
        *(c.connection.close() for c in clients if c.connection), return_exceptions=True
    )
    await sender_conn.close()
    return result
