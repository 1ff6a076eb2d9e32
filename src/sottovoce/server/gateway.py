"""The WebSocket gateway: handshake, replay from cursors, live push and client frames.

Protocol decisions live in core/frames.py (codec), core/rules.py (permissions) and the services;
this module moves frames between them and the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from sottovoce.bus.base import Bus, DevicesRevoked, Ephemeral
from sottovoce.core.errors import (
    BadRequest,
    DeviceRevoked,
    RateLimited,
    SottoError,
    UserDisabled,
)
from sottovoce.core.frames import (
    MAX_FRAME,
    Auth,
    ClientFrame,
    MailboxAck,
    Ping,
    Presence,
    ReceiptFrame,
    Send,
    Typing,
    ack_frame,
    error_frame,
    event_frame,
    mail_frame,
    parse_frame,
    parse_frame_object,
    pong_frame,
    presence_frame,
    ready_frame,
    request_id,
)
from sottovoce.core.models import Event
from sottovoce.core.replay import ReplayPlan
from sottovoce.core.rules import is_joined
from sottovoce.server.accounts import Accounts
from sottovoce.server.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_RATE_LIMITED,
    CLOSE_REVOKED,
    FRAME_RATE,
    MAX_STRIKES,
    Connection,
    InFlight,
    Outbound,
    Outbox,
    frame_limiter,
)
from sottovoce.server.hub import Hub
from sottovoce.server.mailbox import Mailbox
from sottovoce.server.metrics import Metrics
from sottovoce.server.middleware import refusal
from sottovoce.server.rooms import Rooms
from sottovoce.server.wsframe import control_ping, control_pong
from sottovoce.store.base import Store

AUTH_TIMEOUT = 10.0
# Seconds: a connection silent this long is pinged, and closed if still silent half of it later.
HEARTBEAT = 30
REPLAY_PAGE = 500
SHUTDOWN_GRACE = 5.0
REVOCATION_SWEEP = 10.0
# How long a close waits for the peer's reply; keeps SIGTERM-to-exit short.
CLOSE_TIMEOUT = 3.0
SEND_BUFFER = 256 * 1024
# Sends of one connection whose commits may be awaited at once; the reader pauses beyond it.
MAX_IN_FLIGHT = 32
CLOSE_UNAUTHENTICATED = 4001
CLOSE_PROTOCOL = 4002
CLOSE_NO_HEARTBEAT = 4010

log = structlog.get_logger("sottovoce.gateway")


def _cap_send_buffer(request: web.Request) -> None:
    """Keep the kernel from buffering megabytes for a consumer that stopped reading.

    Linux grows a socket's send buffer up to 4 MiB on its own; with tens of thousands of sockets
    that is unbounded memory, and it hides a slow consumer from the outbound queue, whose
    overflow is what closes it with 4009.
    """
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)


class Gateway:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        hub: Hub,
        accounts: Accounts,
        rooms: Rooms,
        mailbox: Mailbox,
        metrics: Metrics,
        *,
        frame_rate: int = FRAME_RATE,
        heartbeat: int = HEARTBEAT,
    ) -> None:
        self._store = store
        self._frame_rate = frame_rate
        self._heartbeat = heartbeat
        self._bus = bus
        self._hub = hub
        self._accounts = accounts
        self._rooms = rooms
        self._mailbox = mailbox
        self._metrics = metrics
        self._auth_waits: set[asyncio.Future[WSMessage]] = set()
        self._shutting_down = False
        self._handlers: set[asyncio.Task[Any]] = set()
        self._outbox = Outbox()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The WebSocket route: the upgrade, then the connection until it closes.

        Everything a connection holds while idle counts (memory per idle connection is a
        target): its reading loop runs in this one coroutine, what only the start needs (the
        auth frame with its token, the cursors) goes with ``_open``'s frame, and the middlewares
        keep no frame of theirs (``middleware.errors``).
        """
        ws = web.WebSocketResponse(
            # Pings are answered and sent here (``_received``, ``watch_heartbeats``): aiohttp's
            # heartbeat holds a timer per connection, a third of a KiB of each idle one, and
            # schedules a callback for every read.
            autoping=False,
            max_msg_size=MAX_FRAME,
            timeout=CLOSE_TIMEOUT,
            # Ciphertext does not compress; deflate per recipient would only burn CPU.
            compress=False,
            # aiohttp would answer the peer's close inside receive(), before the sends read
            # ahead of it are committed, and their acks could no longer be written: the handler
            # answers it once they are settled (Connection.finish).
            autoclose=False,
        )
        try:
            await ws.prepare(request)
        except Exception as exc:
            # Until the upgrade this is an HTTP request like any other, and answered the same.
            return refusal(request, exc)
        _cap_send_buffer(request)
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        try:
            conn = await self._open(request, ws)
            if conn is None:
                return ws
            try:
                if not conn.closing:
                    conn.start_writer()
                    conn.reader = handler
                while not conn.closing:
                    conn.reader_idle = True
                    try:
                        msg = await ws.receive()
                    except asyncio.CancelledError:
                        # Connection.close interrupts an idle read this way; any other
                        # cancellation (the server stopping this handler) is passed on.
                        if conn.close_request is not None and handler.uncancel() == 0:
                            break
                        raise
                    finally:
                        conn.reader_idle = False
                    if not await self._received(conn, msg):
                        break
            except ConnectionError:
                pass
            finally:
                await self._leave(conn)
        except Exception:
            log.exception("request_failed", method=request.method, path=request.path)
        finally:
            self._handlers.discard(handler)
        return ws

    async def shutdown(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Close every socket with 1001 so clients reconnect elsewhere and resume."""
        self._shutting_down = True
        for receiving in self._auth_waits:
            receiving.cancel()
        for conn in self._hub.connections():
            conn.close(CLOSE_GOING_AWAY, "server shutting down")
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=grace)

    async def watch_revocations(self, interval: float = REVOCATION_SWEEP) -> None:
        """Close sockets of devices revoked by another process, such as ``sotto admin disable``
        (revocations made through this node's API close them at once via the bus)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self._close_revoked()
            except Exception:
                log.exception("revocation_sweep_failed")

    async def watch_heartbeats(self) -> None:
        """Every half heartbeat, ping the connections silent for a heartbeat and close those that
        left a ping unanswered for half of one: a peer gone without a close (a phone out of
        coverage, a crashed client) holds no socket for long."""
        while True:
            await asyncio.sleep(self._heartbeat / 2)
            self._check_heartbeats(time.monotonic())

    def _check_heartbeats(self, now: float) -> None:
        silent_since = now - self._heartbeat
        unanswered_since = now - self._heartbeat / 2
        for conn in self._hub.connections():
            if conn.pinged:
                if conn.pinged <= unanswered_since:
                    conn.close(CLOSE_NO_HEARTBEAT, "no answer to ping")
            elif conn.heard <= silent_since:
                conn.pinged = now
                conn.push(Outbound.control(control_ping()))

    async def _close_revoked(self) -> None:
        # One query per few hundred connected devices, not one per connected user every sweep.
        connected = {conn.device_id for conn in self._hub.connections()}
        revoked = await self._store.revoked_among(connected)
        if revoked:
            self._hub.on_notification(DevicesRevoked(tuple(sorted(revoked))))

    async def _handshake(self, ws: web.WebSocketResponse) -> tuple[dict[str, int], str, str] | None:
        """The auth frame's cursors and the authenticated user and device (the token is not kept:
        it would stay in memory as long as the connection)."""
        # A separate task so that shutdown can cancel the wait: closing a socket from another
        # task while it is inside receive() would cut it without a close code.
        receiving = asyncio.ensure_future(_first_message(ws))
        self._auth_waits.add(receiving)
        try:
            await asyncio.wait({receiving}, timeout=AUTH_TIMEOUT)
        finally:
            self._auth_waits.discard(receiving)
        if not receiving.done() or receiving.cancelled():
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            if self._shutting_down:
                await ws.close(code=CLOSE_GOING_AWAY, message=b"server shutting down")
            else:
                await ws.close(code=CLOSE_UNAUTHENTICATED, message=b"no auth frame within 10 s")
            return None
        msg = receiving.result()
        if msg.type is WSMsgType.BINARY:
            await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"binary frames refused")
            return None
        if msg.type is not WSMsgType.TEXT:
            # The peer's close (answered here, there being no autoclose); otherwise already closed.
            await ws.close()
            return None
        try:
            frame = parse_frame(parse_frame_object(msg.data))
            if not isinstance(frame, Auth):
                raise BadRequest("the first frame must be auth")
        except SottoError as exc:
            await ws.close(code=CLOSE_PROTOCOL, message=exc.message.encode()[:120])
            return None
        try:
            claims = await self._accounts.authenticate(frame.token)
        except (DeviceRevoked, UserDisabled) as exc:
            await ws.close(code=CLOSE_REVOKED, message=exc.code.encode())
            return None
        except SottoError as exc:
            await ws.close(code=CLOSE_UNAUTHENTICATED, message=exc.code.encode())
            return None
        return frame.since, claims.user_id, claims.device_id

    async def _joined_rooms(self, user_id: str) -> dict[str, int]:
        """The rooms the user has joined, with their ends (``last_seq``) as of this read."""
        joined = {}
        for room in await self._store.list_rooms_for_user(user_id):
            if is_joined(await self._rooms.member_of(user_id, room.room_id)):
                joined[room.room_id] = room.last_seq
        return joined

    async def _open(self, request: web.Request, ws: web.WebSocketResponse) -> Connection | None:
        """Authenticate, register and replay: the connection to read from, or None when it was
        refused or went away meanwhile."""
        accepted = await self._handshake(ws)
        if accepted is None:
            return None
        since, user, device = accepted
        joined = await self._joined_rooms(user)
        conn = Connection(
            ws,
            user,
            device,
            request,
            self._outbox,
            limiter=frame_limiter(self._frame_rate),
            heard=time.monotonic(),
        )
        if self._shutting_down:
            conn.close(CLOSE_GOING_AWAY, "server shutting down")
        # Registered before replay reads the store, so nothing committed from now on is missed;
        # the connection's cursors drop what the replay already sent.
        self._hub.add(conn, joined)
        self._metrics.connections.inc()
        log.info("ws_connected", user_id=user, device_id=device)
        try:
            await conn.send_now(Outbound(ready_frame(user, device, self._heartbeat)))
            await self._replay(conn, since, joined)
        except BaseException as exc:
            await self._leave(conn)
            if isinstance(exc, ConnectionError):
                return None
            raise
        return conn

    async def _leave(self, conn: Connection) -> None:
        conn.reader = None
        if conn.sending is not None:
            # Their commits are under way: let the acknowledgements go out before the close.
            await conn.sending.below(1)
        self._hub.remove(conn)
        self._metrics.connections.dec()
        await conn.finish()
        user = conn.user_id
        log.info("ws_disconnected", user_id=user, device_id=conn.device_id, code=conn.ws.close_code)
        if not self._hub.user_online(user):
            try:
                await self._announce_presence(user, "offline")
            except Exception:
                # The store may already be closing at shutdown; presence is best effort.
                log.warning("offline_presence_failed", user_id=user)

    async def _replay(
        self, conn: Connection, since: dict[str, int], joined: dict[str, int]
    ) -> None:
        """Send what each room named in ``since`` holds past its cursor.

        ``joined`` holds the rooms' ends as read before the connection joined the hub. A room
        whose end was past the cursor then has news still. The others may have got news since,
        which the hub did not see, so their ends are read again, now that whatever commits next
        reaches the connection live: one query for all of them. Only rooms with news are read,
        together (``Store.events_after_each``), so a resume costs a few queries however many
        rooms the user is in.
        """
        named = {room: after for room, after in since.items() if room in joined}
        ends = joined
        if any(joined[room] <= after for room, after in named.items()):
            ends = {
                room.room_id: room.last_seq
                for room in await self._store.list_rooms_for_user(conn.user_id)
            }
        cursors: dict[str, int] = {}
        for room_id, after in named.items():
            end = ends.get(room_id)
            if end is None:
                # Left since the first read: nothing of it is sent any more.
                continue
            # A cursor past the end of the room (a client bug, a restored backup) would silently
            # swallow the next events: resume from the room's real end instead.
            cursors[room_id] = min(after, end)
        conn.cursors.update(cursors)
        plan = ReplayPlan(cursors, ends, REPLAY_PAGE)
        while plan and not conn.closing:
            rooms = plan.next_read()
            page = await self._store.events_after_each(rooms, REPLAY_PAGE)
            await conn.send_now(*(Outbound(event_frame(e), e.room_id, e.seq) for e in page))
            plan.read(rooms, page)
        while not conn.closing:
            mails = await self._mailbox.after(conn.device_id, conn.mail_cursor, REPLAY_PAGE)
            await conn.send_now(*(Outbound(mail_frame(mail), mail_id=mail.id) for mail in mails))
            if len(mails) < REPLAY_PAGE:
                break

    async def _received(self, conn: Connection, msg: WSMessage) -> bool:
        """Handle one message read from the socket; False once nothing more is to be read."""
        kind = msg.type
        if kind is not WSMsgType.TEXT:
            if kind is WSMsgType.PING or kind is WSMsgType.PONG:
                conn.heard = time.monotonic()
                conn.pinged = 0.0
                if kind is WSMsgType.PING:
                    conn.push(Outbound.control(control_pong(msg.data)))
                return True
            if kind is WSMsgType.BINARY:
                conn.close(WSCloseCode.UNSUPPORTED_DATA, "binary frames refused")
            # The peer's CLOSE is answered by _leave once the sends read before it are settled;
            # after CLOSING, CLOSED or ERROR aiohttp has closed already.
            return False
        # One clock for the rate limit, the ack latency metric and the heartbeat.
        received = time.monotonic()
        conn.heard = received
        conn.pinged = 0.0
        wait = conn.limiter.take(received)
        if wait > 0:
            conn.strikes += 1
            if conn.strikes >= MAX_STRIKES:
                conn.close(CLOSE_RATE_LIMITED, "rate limit exceeded", after_queued=True)
                return False
            limited = RateLimited("too many frames: slow down", retry_after=round(wait, 3))
            conn.push(Outbound(error_frame(None, limited)))
            return True
        conn.strikes = 0
        obj: dict[str, object] | None = None
        try:
            obj = parse_frame_object(msg.data)
            frame = parse_frame(obj)
            if isinstance(frame, Send):
                await self._submit(conn, frame, received)
            else:
                await self._handle(conn, frame)
        except Exception as exc:
            # The frame's id is looked for only when a refusal has to name it.
            self._refuse(conn, None if obj is None else request_id(obj), exc)
        return True

    def _refuse(self, conn: Connection, rid: str | None, exc: Exception) -> None:
        """Answer a failed frame."""
        if isinstance(exc, SottoError):
            conn.push(Outbound(error_frame(rid, exc)))
            return
        log.error("ws_frame_failed", user_id=conn.user_id, device_id=conn.device_id, exc_info=exc)
        conn.push(Outbound(error_frame(rid, SottoError("internal error; nothing was stored"))))

    async def _submit(self, conn: Connection, frame: Send, received: float) -> None:
        """Queue a send for its commit and go back to reading: sends are stored in the order
        they were read, and acknowledged as their commits complete (by the rooms' settler, with
        these callbacks; no task per send)."""
        sending = conn.sending
        if sending is None:
            sending = conn.sending = InFlight()
        if sending.count >= MAX_IN_FLIGHT:
            await sending.below(MAX_IN_FLIGHT)
        rid = frame.id

        def acknowledge(event: Event, duplicate: bool) -> None:
            conn.push(Outbound(ack_frame(rid, event, duplicate)))
            self._metrics.send_latency.observe(time.monotonic() - received)

        def finished(error: BaseException | None) -> None:
            sending.remove()
            if isinstance(error, Exception):
                self._refuse(conn, rid, error)

        await self._rooms.submit(
            conn.user_id,
            conn.device_id,
            frame.room_id,
            frame.client_id,
            frame.body,
            acknowledge,
            finished,
        )
        sending.add()

    async def _handle(self, conn: Connection, frame: ClientFrame) -> None:
        if isinstance(frame, Ping):
            conn.push(Outbound(pong_frame(frame.id)))
        elif isinstance(frame, Typing):
            await self._rooms.typing(conn.user_id, frame.room_id, frame.typing)
        elif isinstance(frame, ReceiptFrame):
            await self._rooms.receipt(conn.user_id, conn.device_id, frame.room_id, frame.seq)
        elif isinstance(frame, Presence):
            await self._announce_presence(conn.user_id, frame.status)
        elif isinstance(frame, MailboxAck):
            await self._mailbox.ack(conn.device_id, frame.up_to)
        else:
            raise BadRequest("already authenticated")

    async def _announce_presence(self, user: str, status: str) -> None:
        others = await self._rooms.co_members(user)
        if others:
            await self._bus.publish(Ephemeral(tuple(sorted(others)), presence_frame(user, status)))


async def _first_message(ws: web.WebSocketResponse) -> WSMessage:
    """The first message that is not a PING or a PONG, answering PINGs meanwhile."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type is not WSMsgType.PONG:
            return msg
