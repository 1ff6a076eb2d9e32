"""``SottoClient``: the async Python SDK for one account on one server (docs/protocol.md)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from sottovoce.client.backoff import Backoff
from sottovoce.client.codec import BodyCodec, PlainCodec
from sottovoce.client.cursor import RoomCursors
from sottovoce.client.errors import ProtocolViolation
from sottovoce.client.live import ConnectionLost, EventStream
from sottovoce.client.records import (
    DeviceInfo,
    Json,
    KeyPackage,
    LiveItem,
    Page,
    RoomInfo,
    Sent,
    Session,
    b64_of,
    device_from,
    event_from,
    field_of,
    list_of,
    mail_from,
    optional_int,
    room_from,
    sent_from_http,
    session_from,
)
from sottovoce.client.transport import SessionStore, Transport
from sottovoce.core.ids import new_client_id
from sottovoce.core.models import Event, EventKind, Mail, Role, RoomKind

PAGE_LIMIT = 500


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json(answer: Json | None) -> Json:
    if answer is None:
        raise ProtocolViolation("the server answered without a body where one was expected")
    return answer


class SottoClient:
    """One account's device on one server.

    Sessions persist through ``store`` when given (tokens rotate on every refresh). Message
    bodies pass through ``codec`` on the way out and in: the place where MLS will plug in.
    ``http`` is an aiohttp session to use (and leave open) instead of an own one.
    """

    def __init__(
        self,
        base_url: str,
        session: Session | None = None,
        *,
        store: SessionStore | None = None,
        codec: BodyCodec | None = None,
        backoff: Backoff | None = None,
        attempts: int = 6,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self._backoff = backoff or Backoff()
        self._transport = Transport(
            base_url, session, store=store, backoff=self._backoff, attempts=attempts, http=http
        )
        self._codec: BodyCodec = codec or PlainCodec()
        self._live: EventStream | None = None

    async def __aenter__(self) -> SottoClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._transport.close()

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def session(self) -> Session | None:
        return self._transport.session

    async def _call(self, method: str, path: str, **kwargs: Any) -> Json | None:
        return await self._transport.call(method, path, **kwargs)

    # Accounts and devices -------------------------------------------------------------------

    async def register(
        self,
        username: str,
        password: str,
        *,
        invite_code: str | None = None,
        device_name: str | None = None,
    ) -> Session:
        body: Json = {"username": username, "password": password}
        if invite_code is not None:
            body["invite_code"] = invite_code
        if device_name is not None:
            body["device_name"] = device_name
        return self._signed_in(await self._call("POST", "/register", body=body, auth=False))

    async def login(
        self, username: str, password: str, *, device_name: str | None = None
    ) -> Session:
        body: Json = {"username": username, "password": password}
        if device_name is not None:
            body["device_name"] = device_name
        return self._signed_in(await self._call("POST", "/login", body=body, auth=False))

    def _signed_in(self, answer: Json | None) -> Session:
        session = session_from(_json(answer))
        self._transport.adopt(session)
        return session

    async def refresh(self) -> Session:
        return await self._transport.refresh()

    async def logout(self) -> None:
        """Revoke this device on the server; the session is unusable afterwards."""
        await self._call("POST", "/logout")
        self._transport.session = None

    async def me(self) -> Json:
        return _json(await self._call("GET", "/me", idempotent=True))

    async def devices(self) -> list[DeviceInfo]:
        answer = _json(await self._call("GET", "/devices", idempotent=True))
        return [device_from(d) for d in list_of(answer, "devices")]

    async def revoke_device(self, device_id: str) -> None:
        await self._call("DELETE", f"/devices/{device_id}", idempotent=True)

    async def user_devices(self, user_id: str) -> list[str]:
        answer = _json(await self._call("GET", f"/users/{user_id}", idempotent=True))
        devices = field_of(answer, "devices", list)
        if not all(isinstance(d, str) for d in devices):
            raise ProtocolViolation("server answer: devices should be a list of device ids")
        return devices

    # Rooms ----------------------------------------------------------------------------------

    async def create_room(
        self,
        name: str | None = None,
        *,
        kind: RoomKind = RoomKind.GROUP,
        invite: Sequence[str] = (),
    ) -> RoomInfo:
        body: Json = {"kind": kind.value}
        if name is not None:
            body["name"] = name
        if invite:
            body["invite"] = list(invite)
        return room_from(_json(await self._call("POST", "/rooms", body=body)))

    async def rooms(self) -> list[RoomInfo]:
        answer = _json(await self._call("GET", "/rooms", idempotent=True))
        return [room_from(r) for r in list_of(answer, "rooms")]

    async def room(self, room_id: str) -> RoomInfo:
        return room_from(_json(await self._call("GET", f"/rooms/{room_id}", idempotent=True)))

    async def _membership(self, room_id: str, action: str, body: Json | None = None) -> Event:
        answer = await self._call("POST", f"/rooms/{room_id}/{action}", body=body)
        return event_from(_json(answer))

    async def invite(self, room_id: str, user_id: str) -> Event:
        return await self._membership(room_id, "invite", {"user_id": user_id})

    async def join(self, room_id: str) -> Event:
        return await self._membership(room_id, "join")

    async def leave(self, room_id: str) -> Event:
        return await self._membership(room_id, "leave")

    async def kick(self, room_id: str, user_id: str) -> Event:
        return await self._membership(room_id, "kick", {"user_id": user_id})

    async def set_role(self, room_id: str, user_id: str, role: Role) -> Event:
        return await self._membership(room_id, "role", {"user_id": user_id, "role": role.value})

    # Messages -------------------------------------------------------------------------------

    async def send(
        self,
        room_id: str,
        body: bytes,
        *,
        client_id: str | None = None,
        sealed: bool = False,
        welcomes: Sequence[tuple[str, str, bytes]] = (),
    ) -> Sent:
        """Store a message once. Over the live connection when ``events()`` has one, else HTTP;
        every retry reuses one client_id, so a message whose ack was lost is not stored twice.
        ``sealed``: ``body`` is already what the server stores (an MLS handshake message).
        ``welcomes``: ``(user_id, device_id, welcome)`` for each device a commit adds; the
        server stores them in those devices' mailboxes (kind ``mls.welcome``) in the commit's
        transaction, so either the commit and all its Welcomes are stored or none is."""
        client_id = client_id or new_client_id()
        wire = body if sealed else await self._codec.seal(room_id, body)
        return await self._send_wire(room_id, client_id, _b64(wire), welcomes)

    async def _send_wire(
        self,
        room_id: str,
        client_id: str,
        sealed: str,
        welcomes: Sequence[tuple[str, str, bytes]] = (),
    ) -> Sent:
        live = self._live
        # The gateway's send frame has no welcomes: a commit with Welcomes goes over HTTP.
        if live is not None and live.connected and not welcomes:
            try:
                return await live.send(room_id, client_id, sealed)
            except ConnectionLost:
                pass
        body: Json = {"client_id": client_id, "body": sealed}
        if welcomes:
            body["welcomes"] = [
                {"user_id": u, "device_id": d, "body": _b64(w)} for u, d, w in welcomes
            ]
        answer = await self._call("POST", f"/rooms/{room_id}/events", body=body, idempotent=True)
        return sent_from_http(_json(answer))

    async def history(
        self,
        room_id: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> Page:
        """One page in ascending order. ``before`` pages backwards (``cursor`` is the next
        ``before``); otherwise forwards from ``after`` (default 0; ``cursor`` is the next
        ``after``). The latest events: ``before`` = the room's ``last_seq`` + 1."""
        if before is not None and after is not None:
            raise ValueError("page either before or after a sequence number, not both")
        params = {"before": before} if before is not None else {"after": after or 0}
        answer = _json(
            await self._call(
                "GET",
                f"/rooms/{room_id}/events",
                params={**params, "limit": limit},
                idempotent=True,
            )
        )
        events = tuple([await self._opened(event_from(e)) for e in list_of(answer, "events")])
        cursor = optional_int(answer, "prev" if before is not None else "next")
        return Page(events, cursor)

    async def _opened(self, event: Event) -> Event:
        if event.kind is not EventKind.MESSAGE:
            return event
        plain = await self._codec.open(event.room_id, event.seq, event.sender_device, event.body)
        return dataclasses.replace(event, body=plain)

    async def events(
        self, since: Mapping[str, int] | None = None
    ) -> AsyncGenerator[LiveItem, None]:
        """Live events, mail and notices, reconnecting forever with backoff.

        Each room's events come exactly once and in order: ``since`` (room id → last seq the
        caller has) resumes where it left off; without it the stream starts after each room's
        current last event. Missing events are paged over HTTP before later ones are yielded.
        Ends only by an error a reconnect cannot cure (e.g. ``DeviceRevoked``) or by the caller.
        """
        if since is None:
            since = {room.room_id: room.last_seq for room in await self.rooms()}
        stream = EventStream(self._transport, RoomCursors(since), self._page_after, self._backoff)
        self._live = stream
        try:
            async for item in stream.run():
                yield await self._opened(item) if isinstance(item, Event) else item
        finally:
            if self._live is stream:
                self._live = None

    async def _page_after(self, room_id: str, seq: int) -> Page:
        return await self.history(room_id, after=seq, limit=PAGE_LIMIT)

    async def typing(self, room_id: str, typing: bool) -> bool:
        """Tell the room; False when no live connection is open (typing is not worth storing)."""
        frame = {"type": "typing", "room_id": room_id, "typing": typing}
        return self._live is not None and await self._live.send_frame(frame)

    async def mark_read(self, room_id: str, seq: int) -> bool:
        """Tell the room this account has read up to ``seq``; False when not connected."""
        frame = {"type": "receipt", "room_id": room_id, "seq": seq}
        return self._live is not None and await self._live.send_frame(frame)

    async def publish_group_info(self, room_id: str, group_info: bytes) -> None:
        """Publish the MLS GroupInfo of the room's current epoch (refused with ``stale_epoch``
        once the room moved on)."""
        body = {"group_info": _b64(group_info)}
        await self._call("PUT", f"/rooms/{room_id}/group_info", body=body, idempotent=True)

    async def group_info(self, room_id: str) -> tuple[int, bytes]:
        """The room's MLS epoch and the GroupInfo published for it."""
        answer = _json(await self._call("GET", f"/rooms/{room_id}/group_info", idempotent=True))
        return field_of(answer, "epoch", int), b64_of(answer, "group_info")

    # To-device mailbox ----------------------------------------------------------------------

    async def send_to_devices(self, messages: Iterable[tuple[str, str, str, bytes]]) -> int:
        """Queue ``(user_id, device_id, kind, body)`` messages for other devices."""
        batch = [
            {"user_id": u, "device_id": d, "kind": k, "body": _b64(b)} for u, d, k, b in messages
        ]
        answer = _json(await self._call("POST", "/to_device", body={"messages": batch}))
        return field_of(answer, "sent", int)

    async def mailbox(self, *, after: int = 0, limit: int = 100) -> tuple[list[Mail], int | None]:
        answer = _json(
            await self._call(
                "GET", "/mailbox", params={"after": after, "limit": limit}, idempotent=True
            )
        )
        device = self._transport.signed_in().device_id
        return [mail_from(m, device) for m in list_of(answer, "messages")], optional_int(
            answer, "next"
        )

    async def ack_mailbox(self, up_to: int) -> None:
        """Delete this device's mail with ``id <= up_to`` (after it has been processed)."""
        await self._call("POST", "/mailbox/ack", body={"up_to": up_to}, idempotent=True)

    # Key directory --------------------------------------------------------------------------

    async def publish_device_keys(self, keys: bytes) -> None:
        await self._call("PUT", "/keys/device", body={"keys": _b64(keys)}, idempotent=True)

    async def upload_key_packages(
        self, one_time: Sequence[bytes], last_resort: bytes | None = None
    ) -> int:
        body: Json = {"one_time": [_b64(p) for p in one_time]}
        if last_resort is not None:
            body["last_resort"] = _b64(last_resort)
        answer = _json(await self._call("POST", "/keys/packages", body=body))
        return field_of(answer, "one_time_count", int)

    async def key_package_count(self) -> tuple[int, bool]:
        answer = _json(await self._call("GET", "/keys/packages/count", idempotent=True))
        return field_of(answer, "one_time_count", int), field_of(answer, "has_last_resort", bool)

    async def device_keys(self, user_id: str) -> dict[str, bytes | None]:
        answer = _json(await self._call("GET", f"/keys/{user_id}", idempotent=True))
        return {
            field_of(d, "device_id", str): None if d.get("keys") is None else b64_of(d, "keys")
            for d in list_of(answer, "devices")
        }

    async def claim_key_packages(self, user_id: str) -> list[KeyPackage]:
        """One package per device of ``user_id``; not retried, since each claim consumes one."""
        answer = _json(await self._call("POST", "/keys/claim", body={"user_id": user_id}))
        return [
            KeyPackage(
                field_of(p, "device_id", str),
                b64_of(p, "package"),
                field_of(p, "last_resort", bool),
            )
            for p in list_of(answer, "packages")
        ]
