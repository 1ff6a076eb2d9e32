"""One authenticated WebSocket: a bounded outbound queue drained by a single writer task.

Pushing never blocks the fan-out: a consumer whose queue overflows is closed with 4009 and resumes
from its cursors. The writer drops room events at or below the connection's cursor for that room,
which is what makes the replay-then-live hand-over free of duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web

from sottovoce.core.ratelimit import TokenBucket

MAX_QUEUE = 1024
FRAME_RATE = 64
FRAME_BURST = 128
MAX_STRIKES = 10

CLOSE_GOING_AWAY = 1001
CLOSE_REVOKED = 4003
CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009


@dataclass(frozen=True, slots=True)
class Outbound:
    """A rendered frame; room events also carry ``room_id``/``seq`` and mail its ``mail_id``."""

    frame: str
    room_id: str | None = None
    seq: int = 0
    mail_id: int = 0


@dataclass(eq=False, slots=True)
class Connection:
    ws: web.WebSocketResponse
    user_id: str
    device_id: str
    cursors: dict[str, int] = field(default_factory=dict)
    mail_cursor: int = 0
    limiter: TokenBucket = field(default_factory=lambda: TokenBucket(FRAME_RATE, FRAME_BURST))
    strikes: int = 0
    closing: bool = False
    _queue: deque[Outbound] = field(default_factory=deque)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[bool]] = field(default_factory=set)

    def push(self, item: Outbound) -> None:
        if self.closing:
            return
        if len(self._queue) >= MAX_QUEUE:
            self.close(CLOSE_TOO_SLOW, "consumer too slow: reconnect and resume")
            return
        self._queue.append(item)
        self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Close from any context without waiting; later pushes are ignored."""
        if self.closing:
            return
        self.closing = True
        self._queue.clear()
        self._wakeup.set()
        task = asyncio.get_running_loop().create_task(
            self.ws.close(code=code, message=reason.encode())
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_now(self, item: Outbound) -> None:
        """Send directly, bypassing the queue: for the handshake and replay, before ``run``."""
        if self._fresh(item):
            await self.ws.send_str(item.frame)

    def _fresh(self, item: Outbound) -> bool:
        if item.room_id is not None:
            if item.seq <= self.cursors.get(item.room_id, 0):
                return False
            self.cursors[item.room_id] = item.seq
        elif item.mail_id:
            if item.mail_id <= self.mail_cursor:
                return False
            self.mail_cursor = item.mail_id
        return True

    async def run_writer(self) -> None:
        """Drain the queue until the connection closes."""
        with contextlib.suppress(ConnectionError):
            while not self.closing:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue and not self.closing:
                    item = self._queue.popleft()
                    if self._fresh(item):
                        await self.ws.send_str(item.frame)

    async def wait_closed(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
