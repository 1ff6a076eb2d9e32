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
DRAIN_TIMEOUT = 10.0

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
    _writer: asyncio.Task[None] | None = None
    _close_after: tuple[int, str] | None = None

    def push(self, item: Outbound) -> None:
        if self.closing:
            return
        if len(self._queue) >= MAX_QUEUE:
            self.close(CLOSE_TOO_SLOW, "consumer too slow: reconnect and resume")
            return
        self._queue.append(item)
        self._wakeup.set()

    def close(self, code: int, reason: str, *, after_queued: bool = False) -> None:
        """Close from any context without waiting; later pushes are ignored.

        With ``after_queued`` the writer first sends what is already queued (the errors that
        explain a rate-limit close); otherwise the queue is dropped and the close goes out now.
        """
        if self.closing:
            return
        self.closing = True
        self._wakeup.set()
        if after_queued and self._writer is not None:
            self._close_after = (code, reason)
            return
        self._queue.clear()
        task = asyncio.get_running_loop().create_task(
            self.ws.close(code=code, message=reason.encode())
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send_now(self, item: Outbound) -> None:
        """Send directly, bypassing the queue: for the replay, before ``start_writer``."""
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

    def start_writer(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    item = self._queue.popleft()
                    if self._fresh(item):
                        await self.ws.send_str(item.frame)
                if self.closing:
                    break
            if self._close_after is not None:
                code, reason = self._close_after
                await self.ws.close(code=code, message=reason.encode())

    async def finish(self) -> None:
        """Stop writing (after a pending drain-then-close) and wait for closes under way."""
        self.closing = True
        self._wakeup.set()
        if self._writer is not None:
            if self._close_after is None:
                self._writer.cancel()
            # A peer that stops reading must not hold the drain-then-close open for ever.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._writer, DRAIN_TIMEOUT)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
