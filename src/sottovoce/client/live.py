"""The live WebSocket stream: connect, authenticate in the first frame, resume from cursors,
reconnect with backoff, and turn server frames into SDK values in order and without repeats."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from sottovoce.client.backoff import Backoff
from sottovoce.client.cursor import MailCursor, RoomCursors, Verdict
from sottovoce.client.errors import ProtocolViolation, error_from_wire
from sottovoce.client.records import (
    Json,
    LiveItem,
    Page,
    Presence,
    Sent,
    Typing,
    event_from,
    field_of,
    mail_from,
    object_of,
    sent_from_ack,
)
from sottovoce.client.transport import CONNECTION_ERRORS, Transport, transient
from sottovoce.core.errors import (
    BadRequest,
    DeviceRevoked,
    NotMember,
    SottoError,
)
from sottovoce.core.models import Event, Receipt

CLOSE_UNAUTHENTICATED = 4001
CLOSE_PROTOCOL = 4002
CLOSE_REVOKED = 4003
# Closes that a reconnect cannot cure: the client itself is at fault.
FATAL_CLOSES = {1003, 1009, CLOSE_PROTOCOL}
ACK_TIMEOUT = 10.0
INBOX = 1024
HEARTBEAT = 30.0

# The server is restarting or the network is down: try again. A refused handshake (a proxy's 502
# while the server restarts) counts too; a refused token is handled by the close code instead.
RECONNECTABLE = (*CONNECTION_ERRORS, ConnectionResetError, aiohttp.WSServerHandshakeError)

PageAfter = Callable[[str, int], Awaitable[Page]]


class ConnectionLost(Exception):
    """The WebSocket closed before a request was answered."""


class EventStream:
    """One logical stream over any number of WebSocket connections.

    ``page_after(room_id, seq)`` reads history over HTTP to fill gaps; every event passes the
    ``RoomCursors`` rule, whether it was replayed, pushed live or paged.
    """

    def __init__(
        self,
        transport: Transport,
        cursors: RoomCursors,
        page_after: PageAfter,
        backoff: Backoff,
    ) -> None:
        self._transport = transport
        self.cursors = cursors
        self.mail = MailCursor()
        self._page_after = page_after
        self._backoff = backoff
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[str, asyncio.Future[Sent]] = {}

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def send(self, room_id: str, client_id: str, body: str) -> Sent:
        """Send over the open connection; raises ``ConnectionLost`` if it is gone before the ack
        (the caller then retries over HTTP with the same client_id)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionLost
        request_id = secrets.token_urlsafe(12)
        waiter: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = waiter
        frame = {"type": "send", "id": request_id, "room_id": room_id, "client_id": client_id}
        try:
            await ws.send_str(json.dumps({**frame, "body": body}))
            return await asyncio.wait_for(waiter, ACK_TIMEOUT)
        except (*CONNECTION_ERRORS, ConnectionResetError):
            raise ConnectionLost from None
        finally:
            self._pending.pop(request_id, None)

    async def send_frame(self, frame: Json) -> bool:
        """A fire-and-forget frame (typing, receipt, mailbox_ack); False when not connected."""
        ws = self._ws
        if ws is None or ws.closed:
            return False
        try:
            await ws.send_str(json.dumps(frame))
        except (*CONNECTION_ERRORS, ConnectionResetError):
            return False
        return True

    async def run(self) -> AsyncIterator[LiveItem]:
        delays = self._backoff.delays()
        while True:
            try:
                async for item in self._connection():
                    yield item
                    delays = self._backoff.delays()
            except RECONNECTABLE:
                pass
            except SottoError as exc:
                # A gap being paged while the server restarts: the cursors did not move, so
                # the replay after reconnecting brings the same events again.
                if not transient(exc):
                    raise
            finally:
                self._drop_connection()
            await asyncio.sleep(next(delays))

    def _drop_connection(self) -> None:
        self._ws = None
        for waiter in self._pending.values():
            if not waiter.done():
                waiter.set_exception(ConnectionLost())
        self._pending.clear()

    async def _connection(self) -> AsyncIterator[LiveItem]:
        transport = self._transport
        token = transport.signed_in().access_token
        async with transport.http.ws_connect(
            transport.ws_url, heartbeat=HEARTBEAT, max_msg_size=0
        ) as ws:
            auth = {"type": "auth", "token": token, "since": self.cursors.since()}
            await ws.send_str(json.dumps(auth))
            frames: asyncio.Queue[Json | Exception | None] = asyncio.Queue(INBOX)
            reader = asyncio.create_task(self._read(ws, frames))
            try:
                while isinstance(frame := await frames.get(), dict):
                    for item in await self._handle(frame):
                        yield item
            finally:
                reader.cancel()
            if isinstance(frame, Exception):
                raise frame
            await self._after_close(ws.close_code, ws.exception(), token)

    async def _read(
        self, ws: aiohttp.ClientWebSocketResponse, frames: asyncio.Queue[Json | Exception | None]
    ) -> None:
        """Read frames as they come, whether or not the consumer is pulling: acks must reach
        waiting senders at once. The bounded inbox pushes back on the socket when the consumer
        lags, and the server then closes with 4009 and the stream resumes from its cursors."""
        end: Exception | None = None
        try:
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                frame = _parse(message.data)
                kind = frame.get("type")
                if kind == "ready":
                    self._ws = ws
                elif kind == "ack":
                    self._resolve(field_of(frame, "id", str), sent_from_ack(frame))
                elif kind == "error":
                    self._reject(frame)
                else:
                    await frames.put(frame)
        except Exception as exc:
            end = exc
        finally:
            self._drop_connection()
        await frames.put(end)

    async def _after_close(self, code: int | None, exc: BaseException | None, token: str) -> None:
        reason = str(exc) if exc else ""
        if code == CLOSE_REVOKED:
            raise DeviceRevoked("this device was signed out or revoked: log in again")
        if code in FATAL_CLOSES:
            raise BadRequest(f"the server closed the connection with {code}: {reason}".rstrip())
        if code == CLOSE_UNAUTHENTICATED:
            try:
                await self._transport.refresh(stale_access_token=token)
            except SottoError as refresh_error:
                # An unreachable server is the reconnect loop's business; a refused refresh
                # token is the caller's: it has to sign in again.
                if not transient(refresh_error):
                    raise

    async def _handle(self, frame: Json) -> list[LiveItem]:
        kind = frame.get("type")
        if kind == "event":
            return [*await self._in_order(event_from(object_of(frame, "event")))]
        if kind == "mail":
            device = self._transport.signed_in().device_id
            mail = mail_from(object_of(frame, "mail"), device)
            return [mail] if self.mail.accept(mail.id) else []
        if kind == "typing":
            return [
                Typing(
                    field_of(frame, "room_id", str),
                    field_of(frame, "user_id", str),
                    field_of(frame, "typing", bool),
                )
            ]
        elif kind == "receipt":
            return [
                Receipt(
                    field_of(frame, "room_id", str),
                    field_of(frame, "user_id", str),
                    field_of(frame, "seq", int),
                )
            ]
        elif kind == "presence":
            return [Presence(field_of(frame, "user_id", str), field_of(frame, "status", str))]
        return []

    def _resolve(self, request_id: str, sent: Sent) -> None:
        waiter = self._pending.get(request_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(sent)

    def _reject(self, frame: Json) -> None:
        request_id = frame.get("id")
        waiter = self._pending.get(request_id) if isinstance(request_id, str) else None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error_from_wire(frame))

    async def _in_order(self, event: Event) -> list[Event]:
        cursors = self.cursors
        verdict = cursors.classify(event.room_id, event.seq)
        if verdict is Verdict.STALE:
            return []
        if verdict is Verdict.NEXT:
            cursors.advance(event.room_id, event.seq)
            return [event]
        filled = await self._fill(event.room_id, event.seq)
        if cursors.classify(event.room_id, event.seq) is Verdict.NEXT:
            cursors.advance(event.room_id, event.seq)
            filled.append(event)
        return filled

    async def _fill(self, room_id: str, up_to: int) -> list[Event]:
        """Page the events between the room's cursor and ``up_to`` over HTTP, in order."""
        found: list[Event] = []
        while (position := self.cursors.position(room_id)) is not None and position < up_to - 1:
            try:
                page = await self._page_after(room_id, position)
            except NotMember:
                # History we may not read cannot be yielded; the gap is accepted, not hidden.
                self.cursors.skip_to(room_id, up_to - 1)
                break
            progressed = False
            for event in page.events:
                if event.seq >= up_to:
                    break
                if self.cursors.classify(room_id, event.seq) is Verdict.NEXT:
                    self.cursors.advance(room_id, event.seq)
                    found.append(event)
                    progressed = True
            if not progressed:
                raise ProtocolViolation(f"{room_id}: history after {position} has no next event")
        return found


def _parse(data: Any) -> Json:
    try:
        frame = json.loads(data)
    except ValueError:
        raise ProtocolViolation("the server sent a frame that is not JSON") from None
    if not isinstance(frame, dict):
        raise ProtocolViolation("the server sent a frame that is not a JSON object")
    return frame
