"""One authenticated WebSocket: a bounded outbound queue, drained by a writer task while it holds
anything.

Pushing never blocks the fan-out: a consumer whose queue overflows is closed with 4009 and resumes
from its cursors. The writer drops room events at or below the connection's cursor for that room,
which is what makes the replay-then-live hand-over free of duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from sottovoce.core.ratelimit import TokenBucket

MAX_QUEUE = 1024
FRAME_RATE = 64
MAX_STRIKES = 10
DRAIN_TIMEOUT = 10.0

CLOSE_GOING_AWAY = 1001
CLOSE_REVOKED = 4003
CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009


def frame_limiter(rate: int) -> TokenBucket:
    """``rate`` frames per second, in bursts of up to twice that."""
    return TokenBucket(rate, 2 * rate)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A rendered frame; room events also carry ``room_id``/``seq`` and mail its ``mail_id``."""

    frame: bytes
    room_id: str | None = None
    seq: int = 0
    mail_id: int = 0


@dataclass(eq=False, slots=True)
class Connection:
    """Closing is only ever requested here; the connection's own handler performs it.

    aiohttp cuts the TCP connection without waiting for the peer's close reply when ``close`` is
    called while another task is inside ``receive``, which a client sees as 1006 instead of our
    code. So a close request cancels the reader only while it idles in ``receive`` (never in the
    middle of handling a frame) and the handler then closes with the requested code.
    """

    ws: web.WebSocketResponse
    user_id: str
    device_id: str
    cursors: dict[str, int] = field(default_factory=dict)
    mail_cursor: int = 0
    limiter: TokenBucket = field(default_factory=lambda: frame_limiter(FRAME_RATE))
    strikes: int = 0
    closing: bool = False
    close_request: tuple[int, str] | None = None
    # The task reading this socket (its handler), cancelled by ``close`` only while idle.
    reader: asyncio.Task[Any] | None = None
    reader_idle: bool = False
    # Sends read from this socket and waiting for their commit; made on the first send, so an
    # idle connection does not pay for it.
    sending: set[asyncio.Task[None]] | None = None
    _drain_first: bool = False
    # What waits to be written, and the task writing it: both exist only while frames are
    # pending, so that an idle connection holds neither (memory per idle connection is a target).
    _queue: deque[Outbound] | None = None
    _writer: asyncio.Task[None] | None = None
    _writing: bool = False

    def push(self, item: Outbound) -> None:
        if self.closing:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= MAX_QUEUE:
            self.close(CLOSE_TOO_SLOW, "consumer too slow: reconnect and resume")
            return
        queue.append(item)
        if self._writing and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def queued(self) -> list[Outbound]:
        """What waits for the writer, oldest first."""
        return list(self._queue or ())

    def close(self, code: int, reason: str, *, after_queued: bool = False) -> None:
        """Ask for a close with ``code``; later pushes are ignored.

        With ``after_queued`` what is already queued goes out first (the errors that explain a
        rate-limit close); otherwise the queue is dropped.
        """
        if self.closing:
            return
        self.closing = True
        self.close_request = (code, reason)
        self._drain_first = after_queued
        if not after_queued:
            self._queue = None
        if self.reader is not None and self.reader_idle:
            self.reader.cancel()

    async def send_now(self, item: Outbound) -> None:
        """Send directly, bypassing the queue: for the replay, before ``start_writer``."""
        if self._fresh(item):
            await self.ws.send_frame(item.frame, WSMsgType.TEXT)

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
        """From now on pushed frames are written (until then they wait, for the replay)."""
        self._writing = True
        if self._queue and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._queue:
                item = self._queue.popleft()
                if self._fresh(item):
                    await self.ws.send_frame(item.frame, WSMsgType.TEXT)
        except ConnectionError:
            # The socket is gone and its handler is finishing: write nothing more.
            self._writing = False
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None

    async def finish(self) -> None:
        """Stop the writer (after draining, if asked) and perform a requested close."""
        self.closing = True
        writer = self._writer
        if writer is not None:
            if not self._drain_first:
                writer.cancel()
            # A peer that stops reading must not hold the drain open for ever.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(writer, DRAIN_TIMEOUT)
        if self.close_request is not None and not self.ws.closed:
            code, reason = self.close_request
            with contextlib.suppress(ConnectionError):
                await self.ws.close(code=code, message=reason.encode())
