"""The HTTP API of docs/protocol.md as aiohttp handlers: parse, call a service, render JSON."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sottovoce.core.auth import AccessClaims
from sottovoce.core.delivery import WELCOME_KIND
from sottovoce.core.errors import BadRequest, RateLimited, TooLarge, Unauthenticated
from sottovoce.core.frames import MAX_BODY, MAX_CLIENT_ID
from sottovoce.core.ids import parse_room_id, parse_user_id
from sottovoce.core.models import Role, RoomKind
from sottovoce.core.ratelimit import BucketMap
from sottovoce.core.validation import (
    JsonObject,
    b64,
    b64_value,
    b64encode,
    check_fields,
    choice,
    dump_json,
    integer,
    optional_text,
    parse_json_object,
    text,
)
from sottovoce.core.wire import device_json, event_json, mail_json, room_json
from sottovoce.server.accounts import Accounts
from sottovoce.server.keys import Keys
from sottovoce.server.mailbox import Mailbox, Outgoing
from sottovoce.server.rooms import Rooms

MAX_REQUEST = 256 * 1024
MAX_KEY_BLOB = 16 * 1024
MAX_PACKAGES = 100
MAX_MAILS = 100
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
PREFIX = "/api/v1"
# The databases' BIGINT: anything larger cannot name a sequence number or mail id.
MAX_INT = 2**63 - 1

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLAIMS_KEY = web.RequestKey("claims", AccessClaims)


def json_response(body: object, status: int = 200) -> web.Response:
    """The body encoded like every WebSocket frame (``dump_json``), not by aiohttp's json.dumps."""
    return web.Response(body=dump_json(body), status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


async def read_json(request: web.Request) -> JsonObject:
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TooLarge(f"request bodies are limited to {MAX_REQUEST} bytes") from None
    return parse_json_object(data or b"{}")


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send Authorization: Bearer <access token>")
    return token.strip()


def client_ip(request: web.Request) -> str:
    return request.remote or "unknown"


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not 0 <= value <= MAX_INT:
        raise BadRequest(f"{name} must be between 0 and {MAX_INT}")
    return value


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_user: BucketMap
    per_ip: BucketMap
    auth_per_ip: BucketMap

    @classmethod
    def create(cls, http_per_second: int, auth_per_minute: int) -> RateLimits:
        return cls(
            per_user=BucketMap(http_per_second, http_per_second * 3),
            per_ip=BucketMap(http_per_second, http_per_second * 3),
            auth_per_ip=BucketMap(auth_per_minute / 60, auth_per_minute),
        )


def enforce(buckets: BucketMap, key: str) -> None:
    wait = buckets.take(key, time.monotonic())
    if wait > 0:
        raise RateLimited("too many requests: slow down", retry_after=round(wait, 3))


class HttpApi:
    def __init__(
        self, accounts: Accounts, rooms: Rooms, mailbox: Mailbox, keys: Keys, limits: RateLimits
    ) -> None:
        self._accounts = accounts
        self._rooms = rooms
        self._mailbox = mailbox
        self._keys = keys
        self._limits = limits

    def routes(self) -> list[web.RouteDef]:
        p = PREFIX
        return [
            web.post(f"{p}/register", self.register),
            web.post(f"{p}/login", self.login),
            web.post(f"{p}/refresh", self.refresh),
            web.post(f"{p}/logout", self.logout),
            web.get(f"{p}/me", self.me),
            web.get(f"{p}/devices", self.devices),
            web.delete(f"{p}/devices/{{device_id}}", self.delete_device),
            web.get(f"{p}/users/{{user_id}}", self.user),
            web.post(f"{p}/rooms", self.create_room),
            web.get(f"{p}/rooms", self.list_rooms),
            web.get(f"{p}/rooms/{{room_id}}", self.get_room),
            web.post(f"{p}/rooms/{{room_id}}/invite", self.invite),
            web.post(f"{p}/rooms/{{room_id}}/join", self.join),
            web.post(f"{p}/rooms/{{room_id}}/leave", self.leave),
            web.post(f"{p}/rooms/{{room_id}}/kick", self.kick),
            web.post(f"{p}/rooms/{{room_id}}/role", self.set_role),
            web.post(f"{p}/rooms/{{room_id}}/events", self.send),
            web.get(f"{p}/rooms/{{room_id}}/events", self.events),
            web.post(f"{p}/to_device", self.to_device),
            web.get(f"{p}/mailbox", self.mailbox),
            web.post(f"{p}/mailbox/ack", self.mailbox_ack),
            web.put(f"{p}/keys/device", self.put_device_keys),
            web.post(f"{p}/keys/packages", self.add_packages),
            web.get(f"{p}/keys/packages/count", self.count_packages),
            web.post(f"{p}/keys/claim", self.claim),
            web.get(f"{p}/keys/{{user_id}}", self.device_keys),
        ]

    async def _auth(self, request: web.Request) -> AccessClaims:
        return await self._accounts.authenticate(
            bearer_token(request), lambda claims: enforce(self._limits.per_user, claims.user_id)
        )

    # Accounts ---------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        enforce(self._limits.auth_per_ip, client_ip(request))
        body = await read_json(request)
        check_fields(body, ("username", "password"), ("invite_code", "device_name"))
        session = await self._accounts.register(
            text(body, "username", 300, min_len=0),
            text(body, "password", 4096, min_len=0),
            optional_text(body, "invite_code", 256),
            optional_text(body, "device_name", 128),
        )
        return json_response(session.to_json(), 201)

    async def login(self, request: web.Request) -> web.Response:
        enforce(self._limits.auth_per_ip, client_ip(request))
        body = await read_json(request)
        check_fields(body, ("username", "password"), ("device_name",))
        session = await self._accounts.login(
            text(body, "username", 300, min_len=0),
            text(body, "password", 4096, min_len=0),
            optional_text(body, "device_name", 128),
        )
        return json_response(session.to_json())

    async def refresh(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        check_fields(body, ("refresh_token",))
        session = await self._accounts.refresh(text(body, "refresh_token", 512))
        return json_response(session.to_json())

    async def logout(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        await self._accounts.revoke_device(claims.device_id)
        return no_content()

    async def me(self, request: web.Request) -> web.Response:
        return json_response(await self._accounts.me(await self._auth(request)))

    async def devices(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        devices = await self._accounts.devices(claims.user_id)
        return json_response({"devices": [device_json(d, claims.device_id) for d in devices]})

    async def delete_device(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        await self._accounts.revoke_own_device(claims.user_id, request.match_info["device_id"])
        return no_content()

    async def user(self, request: web.Request) -> web.Response:
        await self._auth(request)
        uid = request.match_info["user_id"]
        devices = await self._accounts.public_devices(uid)
        return json_response({"user_id": uid, "devices": devices})

    # Rooms ------------------------------------------------------------------------------------

    async def create_room(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("kind",), ("name", "invite"))
        kind = RoomKind(choice(body, "kind", [k.value for k in RoomKind]))
        name = optional_text(body, "name", 128) or ""
        invite = body.get("invite") or []
        if not isinstance(invite, list) or not all(isinstance(u, str) for u in invite):
            raise BadRequest("invite must be a list of user ids")
        room, members = await self._rooms.create(
            claims.user_id, claims.device_id, kind, name, [u for u in invite if isinstance(u, str)]
        )
        return json_response(room_json(room, members), 201)

    async def list_rooms(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        rooms = await self._rooms.list_for(claims.user_id)
        return json_response({"rooms": [room_json(r, m) for r, m in rooms]})

    async def get_room(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        room, members = await self._rooms.get(claims.user_id, request.match_info["room_id"])
        return json_response(room_json(room, members))

    async def _target(self, request: web.Request, extra: tuple[str, ...] = ()) -> JsonObject:
        body = await read_json(request)
        check_fields(body, ("user_id", *extra))
        parse_user_id(text(body, "user_id", 300))
        return body

    async def invite(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await self._target(request)
        event = await self._rooms.invite(
            claims.user_id, claims.device_id, request.match_info["room_id"], str(body["user_id"])
        )
        return json_response(event_json(event))

    async def join(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        event = await self._rooms.join(
            claims.user_id, claims.device_id, request.match_info["room_id"]
        )
        return json_response(event_json(event))

    async def leave(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        event = await self._rooms.leave(
            claims.user_id, claims.device_id, request.match_info["room_id"]
        )
        return json_response(event_json(event))

    async def kick(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await self._target(request)
        event = await self._rooms.kick(
            claims.user_id, claims.device_id, request.match_info["room_id"], str(body["user_id"])
        )
        return json_response(event_json(event))

    async def set_role(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await self._target(request, ("role",))
        role = Role(choice(body, "role", (Role.ADMIN.value, Role.MEMBER.value)))
        event = await self._rooms.set_role(
            claims.user_id,
            claims.device_id,
            request.match_info["room_id"],
            str(body["user_id"]),
            role,
        )
        return json_response(event_json(event))

    async def send(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        room_id = parse_room_id(request.match_info["room_id"])
        body = await read_json(request)
        check_fields(body, ("client_id", "body"), ("welcomes",))
        raw = body.get("welcomes", [])
        if not isinstance(raw, list) or len(raw) > MAX_MAILS:
            raise BadRequest(f"welcomes must be a list of at most {MAX_MAILS} welcomes")
        event, duplicate = await self._rooms.send(
            claims.user_id,
            claims.device_id,
            room_id,
            text(body, "client_id", MAX_CLIENT_ID),
            b64(body, "body", MAX_BODY),
            welcomes=[self._welcome(item) for item in raw],
        )
        return json_response({"event": event_json(event), "duplicate": duplicate})

    @staticmethod
    def _welcome(item: object) -> Outgoing:
        if not isinstance(item, dict):
            raise BadRequest("each welcome must be an object")
        check_fields(item, ("user_id", "device_id", "body"))
        return HttpApi._outgoing({**item, "kind": WELCOME_KIND})

    async def events(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        room_id = request.match_info["room_id"]
        limit = query_int(request, "limit", DEFAULT_LIMIT)
        assert limit is not None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        before = query_int(request, "before")
        if before is not None:
            if "after" in request.query:
                raise BadRequest("give either after or before, not both")
            page = await self._rooms.events_before(claims.user_id, room_id, before, limit)
            prev = page[0].seq if page and page[0].seq > 1 else None
            return json_response({"events": [event_json(e) for e in page], "prev": prev})
        after = query_int(request, "after", 0)
        assert after is not None
        page = await self._rooms.events_after(claims.user_id, room_id, after, limit)
        following = page[-1].seq if len(page) == limit else None
        return json_response({"events": [event_json(e) for e in page], "next": following})

    # Mailbox ----------------------------------------------------------------------------------

    async def to_device(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("messages",))
        raw = body["messages"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_MAILS:
            raise BadRequest(f"messages must be a list of 1 to {MAX_MAILS} messages")
        messages = [self._outgoing(item) for item in raw]
        sent = await self._mailbox.send(claims.user_id, claims.device_id, messages)
        return json_response({"sent": sent})

    @staticmethod
    def _outgoing(item: object) -> Outgoing:
        if not isinstance(item, dict):
            raise BadRequest("each message must be an object")
        check_fields(item, ("user_id", "device_id", "kind", "body"))
        uid = text(item, "user_id", 300)
        parse_user_id(uid)
        return Outgoing(
            uid, text(item, "device_id", 64), text(item, "kind", 64), b64(item, "body", MAX_BODY)
        )

    async def mailbox(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        after = query_int(request, "after", 0)
        limit = query_int(request, "limit", DEFAULT_LIMIT)
        assert after is not None and limit is not None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
        mails = await self._mailbox.after(claims.device_id, after, limit)
        following = mails[-1].id if len(mails) == limit else None
        return json_response({"messages": [mail_json(m) for m in mails], "next": following})

    async def mailbox_ack(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("up_to",))
        await self._mailbox.ack(claims.device_id, integer(body, "up_to"))
        return no_content()

    # Keys -------------------------------------------------------------------------------------

    async def put_device_keys(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("keys",))
        await self._keys.publish_device_keys(claims.device_id, b64(body, "keys", MAX_KEY_BLOB))
        return no_content()

    async def add_packages(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("one_time",), ("last_resort",))
        raw = body["one_time"]
        if not isinstance(raw, list) or len(raw) > MAX_PACKAGES:
            raise BadRequest(f"one_time must be a list of at most {MAX_PACKAGES} packages")
        one_time = [b64_value(item, "one_time[]", MAX_KEY_BLOB) for item in raw]
        last_resort = (
            b64(body, "last_resort", MAX_KEY_BLOB) if body.get("last_resort") is not None else None
        )
        count = await self._keys.add_packages(claims.device_id, one_time, last_resort)
        return json_response({"one_time_count": count})

    async def count_packages(self, request: web.Request) -> web.Response:
        claims = await self._auth(request)
        count, has_last_resort = await self._keys.count(claims.device_id)
        return json_response({"one_time_count": count, "has_last_resort": has_last_resort})

    async def device_keys(self, request: web.Request) -> web.Response:
        await self._auth(request)
        devices = await self._keys.device_keys(request.match_info["user_id"])
        return json_response(
            {
                "devices": [
                    {"device_id": d, "keys": None if k is None else b64encode(k)}
                    for d, k in devices
                ]
            }
        )

    async def claim(self, request: web.Request) -> web.Response:
        await self._auth(request)
        body = await read_json(request)
        check_fields(body, ("user_id",))
        packages = await self._keys.claim(text(body, "user_id", 300))
        return json_response(
            {
                "packages": [
                    {
                        "device_id": p.device_id,
                        "package": b64encode(p.package),
                        "last_resort": p.last_resort,
                    }
                    for p in packages
                ]
            }
        )
