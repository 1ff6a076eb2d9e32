"""One authenticated WebSocket: frames go to its transport without a task, and a bounded queue
holds them only while the transport cannot take them.

A frame is encoded once for every recipient (``Outbound.wire``). While nothing is queued and the
transport is open and under its high-water mark (as found by the pass's first push to the
connection), a push appends those bytes to what the connection gathered during this pass of the
event loop, and the gateway's ``Outbox`` writes each connection's gathering in one
``transport.write`` at the end of the pass: a group commit publishes its whole batch in one
pass, so a room's member gets the batch in one syscall. Only a paused transport makes a queue,
and a writer task exists only while the queue does, joining the backlog into writes of up to
``WRITE_CHUNK`` each time the transport drains. Pushing never blocks the fan-out: a consumer
whose queue overflows is closed with 4009 and resumes from its cursors.
Room events at or below the connection's cursor for that room are dropped, which is what makes
the replay-then-live hand-over free of duplicates.

Every write holds whole frames, and so does each of aiohttp's own (pings, pongs, close), each in
one synchronous call: frames never interleave. Nothing is written once aiohttp has sent its close
frame (``ws.closed``) or the transport is closing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sottovoce.core.ratelimit import TokenBucket
from sottovoce.server.wsframe import text_frame

MAX_QUEUE = 1024
FRAME_RATE = 64
MAX_STRIKES = 10
DRAIN_TIMEOUT = 10.0
# Frames are joined into writes of about this size: one syscall for many frames, yet a backlog
# (or a replay page) is not copied whole into the transport's buffer.
WRITE_CHUNK = 64 * 1024

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_REVOKED = 4003
CLOSE_RATE_LIMITED = 4008
CLOSE_TOO_SLOW = 4009


def frame_limiter(rate: int) -> TokenBucket:
    """``rate`` frames per second, in bursts of up to twice that."""
    return TokenBucket(rate, 2 * rate)


class Outbound:
    """A rendered frame; room events also carry ``room_id``/``seq`` and mail its ``mail_id``.

    ``wire`` is the whole WebSocket frame, encoded once however many connections it goes to.
    A plain class rather than a frozen dataclass: its ``__init__`` set each field through
    ``object.__setattr__``, and two are made per message.
    """

    __slots__ = ("first", "frame", "mail_id", "parts", "room_id", "seq", "wire")

    def __init__(
        self, frame: bytes, room_id: str | None = None, seq: int = 0, mail_id: int = 0
    ) -> None:
        self.frame = frame
        self.room_id = room_id
        self.seq = seq
        self.first = seq
        self.mail_id = mail_id
        self.wire = text_frame(frame)
        self.parts: tuple[Outbound, ...] = ()

    @classmethod
    def control(cls, wire: bytes) -> Outbound:
        """A control frame (``wsframe.control_ping``, ``control_pong``), written as it is."""
        item = cls(b"")
        item.wire = wire
        return item

    @classmethod
    def joined(cls, events: list[Outbound]) -> Outbound:
        """Consecutive events of one room as one item: their frames back to back, pushed and
        checked against a cursor once (``first`` to ``seq``), kept apart in ``parts`` for a
        connection whose cursor falls inside them or that has to queue them."""
        if len(events) == 1:
            return events[0]
        item = cls.__new__(cls)
        item.frame = b""
        item.room_id = events[0].room_id
        item.first = events[0].seq
        item.seq = events[-1].seq
        item.mail_id = 0
        item.wire = b"".join([event.wire for event in events])
        item.parts = tuple(events)
        return item


class Outbox:
    """Connections with frames gathered during this pass of the event loop; they are written at
    its end, one write per connection however many frames it got.

    A group commit settles its whole batch in one pass, so each member of a busy room gets the
    batch's events, and its sender their acknowledgements, in one syscall instead of one each.
    What is deferred to the end of the pass (the hub's run of a room's events) is pushed first,
    so that it joins those writes.
    """

    __slots__ = ("_deferred", "_gathered", "_scheduled")

    def __init__(self) -> None:
        self._gathered: list[Connection] = []
        self._deferred: list[Callable[[], None]] = []
        self._scheduled = False

    def add(self, conn: Connection) -> None:
        self._gathered.append(conn)
        if not self._scheduled:
            self._schedule()

    def defer(self, push: Callable[[], None]) -> None:
        """Call ``push`` at the end of this pass, before the gathered frames are written."""
        self._deferred.append(push)
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        deferred = self._deferred
        if deferred:
            self._deferred = []
            for push in deferred:
                push()
        self._scheduled = False
        gathered, self._gathered = self._gathered, []
        for conn in gathered:
            conn.flush()


class InFlight:
    """A connection's sends between their submission and their settling (acknowledged or
    refused), counted, with a way to wait until fewer are."""

    __slots__ = ("_wake", "count")

    def __init__(self) -> None:
        self.count = 0
        self._wake: asyncio.Future[None] | None = None

    def add(self) -> None:
        self.count += 1

    def remove(self) -> None:
        self.count -= 1
        wake = self._wake
        if wake is not None:
            self._wake = None
            if not wake.done():
                wake.set_result(None)

    async def below(self, limit: int) -> None:
        while self.count >= limit:
            wake = self._wake
            if wake is None or wake.done():
                # A wait cancelled before (its handler stopped) leaves a cancelled future.
                wake = self._wake = asyncio.get_running_loop().create_future()
            await wake


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
    # The upgrade request: its protocol holds the transport and its flow control. Without one
    # (a connection that is not on a socket) pushes only queue.
    request: web.BaseRequest | None = None
    # Where pushes of one pass of the event loop are gathered (shared by the gateway's
    # connections), so that each connection gets them in one write.
    outbox: Outbox | None = None
    cursors: dict[str, int] = field(default_factory=dict)
    mail_cursor: int = 0
    limiter: TokenBucket = field(default_factory=lambda: frame_limiter(FRAME_RATE))
    strikes: int = 0
    # When the peer was last heard from (any frame, ``time.monotonic``), and when the gateway
    # pinged it for want of that (0.0: no ping outstanding).
    heard: float = 0.0
    pinged: float = 0.0
    closing: bool = False
    close_request: tuple[int, str] | None = None
    # The task reading this socket (its handler), cancelled by ``close`` only while idle.
    reader: asyncio.Task[Any] | None = None
    reader_idle: bool = False
    # Sends read from this socket and not settled yet; made on the first send, so an idle
    # connection does not pay for it.
    sending: InFlight | None = None
    _drain_first: bool = False
    # What waits to be written, and the task writing it: both exist only while frames are
    # pending, so that an idle connection holds neither (memory per idle connection is a target).
    _queue: deque[Outbound] | None = None
    _writer: asyncio.Task[None] | None = None
    _writing: bool = False
    # Frames pushed in this pass of the event loop, written together at its end by the outbox.
    _pending: bytearray | None = None

    def push(self, item: Outbound) -> None:
        if self.closing:
            return
        pending = self._pending
        if pending is not None:
            # The transport was found open and writable when this pass's first frame was
            # gathered, and nothing was written since (``flush`` checks again before writing):
            # a fan-out batch's later frames skip those checks.
            if self._fresh(item):
                pending += item.wire
                if len(pending) >= WRITE_CHUNK:
                    self.flush()
            elif item.parts:
                self._push_parts(item)
            return
        queue = self._queue
        if queue is None:
            if self._writing and self.request is not None and self.outbox is not None:
                protocol = self.request.protocol
                transport = protocol.transport
                if transport is None or transport.is_closing() or self.ws.closed:
                    return
                if not protocol.writing_paused:
                    if self._fresh(item):
                        self._pending = bytearray(item.wire)
                        self.outbox.add(self)
                    elif item.parts:
                        self._push_parts(item)
                    return
            queue = self._queue = deque()
        if item.parts:
            # A queue counts frames, not runs of them, against MAX_QUEUE.
            self._push_parts(item)
            return
        if len(queue) >= MAX_QUEUE:
            self.close(CLOSE_TOO_SLOW, "consumer too slow: reconnect and resume")
            return
        queue.append(item)
        if self._writing and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    def _push_parts(self, item: Outbound) -> None:
        """A run of events one by one: some may be at or below the cursor, or go to the queue."""
        for part in item.parts:
            self.push(part)

    def flush(self) -> None:
        """Write what was pushed since the last pass of the event loop, in one write."""
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        assert self.request is not None
        transport = self.request.transport
        if transport is not None and not transport.is_closing() and not self.ws.closed:
            transport.write(pending)

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

    async def send_now(self, *items: Outbound) -> None:
        """Write ``items`` bypassing the queue (for the replay, before ``start_writer``), joined
        into writes of up to ``WRITE_CHUNK`` bytes, each awaiting the transport's drain."""
        pending = deque(items)
        while pending:
            data = self._take(pending)
            if data:
                self._transport().write(data)
                assert self.request is not None
                await self.request.writer.drain()

    def _take(self, items: deque[Outbound]) -> bytes:
        """The fresh frames popped off the left of ``items``, up to ``WRITE_CHUNK`` bytes."""
        frames = []
        size = 0
        while items and size < WRITE_CHUNK:
            item = items.popleft()
            if self._fresh(item):
                frames.append(item.wire)
                size += len(item.wire)
        return b"".join(frames)

    def _fresh(self, item: Outbound) -> bool:
        if item.room_id is not None:
            # A run of events is fresh only as a whole (``push`` splits the others).
            if item.first <= self.cursors.get(item.room_id, 0):
                return False
            self.cursors[item.room_id] = item.seq
        elif item.mail_id:
            if item.mail_id <= self.mail_cursor:
                return False
            self.mail_cursor = item.mail_id
        return True

    def _transport(self) -> asyncio.Transport:
        assert self.request is not None
        transport = self.request.transport
        if transport is None or transport.is_closing() or self.ws.closed:
            raise ConnectionResetError("the WebSocket is closed")
        return transport

    def start_writer(self) -> None:
        """From now on pushed frames are written (until then they wait, for the replay)."""
        self._writing = True
        if self._queue and self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        """Each time the transport has drained, write what is queued, joined into one write."""
        assert self.request is not None
        try:
            while self._queue:
                await self.request.writer.drain()
                queue = self._queue
                if not queue:
                    # Closed meanwhile, and the queue dropped.
                    break
                # What was gathered for this pass went in before the queue began.
                self.flush()
                data = self._take(queue)
                if data:
                    self._transport().write(data)
        except ConnectionError:
            # The socket is gone and its handler is finishing: write nothing more.
            self._writing = False
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None

    async def finish(self) -> None:
        """Stop the writer and close: with the requested code (after draining, if asked), or,
        when the peer closed, with 1000 once what is queued (its acknowledgements) is written."""
        self.closing = True
        if self._pending is not None:
            self.flush()
        writer = self._writer
        if writer is not None:
            if self.close_request is not None and not self._drain_first:
                writer.cancel()
            # A peer that stops reading must not hold the drain open for ever.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(writer, DRAIN_TIMEOUT)
        if not self.ws.closed:
            code, reason = self.close_request or (CLOSE_NORMAL, "")
            with contextlib.suppress(ConnectionError):
                await self.ws.close(code=code, message=reason.encode())
