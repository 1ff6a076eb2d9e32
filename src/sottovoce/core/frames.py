"""Sans-I/O codec for the WebSocket gateway: client frames in, typed values out, and back.

``decode_frame`` turns the text of one frame into a typed value or raises the error of
core/errors.py that the gateway sends back; the ``*_frame`` functions render server frames to the
exact UTF-8 bytes that go on the wire, so a fan-out can render once and send the same string to all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from sottovoce.core.errors import BadRequest, SottoError, TooLarge, UnknownFrame
from sottovoce.core.ids import parse_room_id
from sottovoce.core.models import Event, Mail
from sottovoce.core.validation import (
    JsonObject,
    b64,
    boolean,
    check_fields,
    check_storable,
    choice,
    dump_json,
    integer,
    parse_json_object,
    text,
)
from sottovoce.core.wire import event_json, mail_json

MAX_FRAME = 96 * 1024
MAX_BODY = 64 * 1024
MAX_REQUEST_ID = 64
MAX_CLIENT_ID = 64
MAX_TOKEN = 4096
MAX_SINCE_ROOMS = 10_000
PRESENCE_STATUSES = ("online", "away")


@dataclass(frozen=True, slots=True)
class Auth:
    token: str
    since: dict[str, int]


class Send(NamedTuple):
    """The hot frame: a named tuple is built in a third of a frozen dataclass's time."""

    id: str
    room_id: str
    client_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Typing:
    room_id: str
    typing: bool


@dataclass(frozen=True, slots=True)
class ReceiptFrame:
    room_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Presence:
    status: str


@dataclass(frozen=True, slots=True)
class MailboxAck:
    up_to: int


@dataclass(frozen=True, slots=True)
class Ping:
    id: str


ClientFrame = Auth | Send | Typing | ReceiptFrame | Presence | MailboxAck | Ping


def parse_frame_object(data: str | bytes) -> dict[str, object]:
    """The JSON object of one frame, size-checked first; raises ``TooLarge`` or ``BadRequest``."""
    if len(data) > MAX_FRAME:
        raise TooLarge(f"frames are limited to {MAX_FRAME} bytes")
    return parse_json_object(data, "frame")


def request_id(obj: JsonObject) -> str | None:
    """The frame's ``id`` when it is usable in an error reply, else None."""
    value = obj.get("id")
    if not isinstance(value, str) or len(value) > MAX_REQUEST_ID:
        return None
    try:
        check_storable(value, "id")
    except BadRequest:
        return None
    return value


def _room(obj: JsonObject) -> str:
    return parse_room_id(text(obj, "room_id", 300))


def _auth(obj: JsonObject) -> Auth:
    check_fields(obj, ("type", "token"), ("since", "id"))
    since_raw = obj.get("since") or {}
    if not isinstance(since_raw, dict):
        raise BadRequest("since must be an object mapping room ids to sequence numbers")
    if len(since_raw) > MAX_SINCE_ROOMS:
        raise TooLarge(f"since names more than {MAX_SINCE_ROOMS} rooms")
    since = {parse_room_id(room): integer(since_raw, room) for room in since_raw}
    # An empty token is a bad token (close 4001), not a malformed frame.
    return Auth(token=text(obj, "token", MAX_TOKEN, min_len=0), since=since)


def _send(obj: JsonObject) -> Send:
    check_fields(obj, ("type", "id", "room_id", "client_id", "body"))
    # Positional: keywords make a named tuple take twice as long.
    return Send(
        text(obj, "id", MAX_REQUEST_ID),
        _room(obj),
        text(obj, "client_id", MAX_CLIENT_ID),
        b64(obj, "body", MAX_BODY),
    )


def _typing(obj: JsonObject) -> Typing:
    check_fields(obj, ("type", "room_id", "typing"), ("id",))
    return Typing(room_id=_room(obj), typing=boolean(obj, "typing"))


def _receipt(obj: JsonObject) -> ReceiptFrame:
    check_fields(obj, ("type", "room_id", "seq"), ("id",))
    return ReceiptFrame(room_id=_room(obj), seq=integer(obj, "seq"))


def _presence(obj: JsonObject) -> Presence:
    check_fields(obj, ("type", "status"), ("id",))
    return Presence(status=choice(obj, "status", PRESENCE_STATUSES))


def _mailbox_ack(obj: JsonObject) -> MailboxAck:
    check_fields(obj, ("type", "up_to"), ("id",))
    return MailboxAck(up_to=integer(obj, "up_to"))


def _ping(obj: JsonObject) -> Ping:
    check_fields(obj, ("type", "id"))
    return Ping(id=text(obj, "id", MAX_REQUEST_ID))


_PARSERS: dict[str, Callable[[JsonObject], ClientFrame]] = {
    "auth": _auth,
    "send": _send,
    "typing": _typing,
    "receipt": _receipt,
    "presence": _presence,
    "mailbox_ack": _mailbox_ack,
    "ping": _ping,
}


def parse_frame(obj: JsonObject) -> ClientFrame:
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise BadRequest("every frame needs a string field type")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise UnknownFrame(f"unknown frame type {kind[:40]!r}")
    return parser(obj)


def decode_frame(data: str | bytes) -> ClientFrame:
    return parse_frame(parse_frame_object(data))


# Server frames --------------------------------------------------------------------------------


# Every server frame is bytes (dump_json), so that a fan-out encodes once and every recipient's
# socket sends the same buffer.


def ready_frame(user_id: str, device_id: str, heartbeat: int) -> bytes:
    return dump_json(
        {"type": "ready", "user_id": user_id, "device_id": device_id, "heartbeat": heartbeat}
    )


def ack_frame(request: str, event: Event, duplicate: bool) -> bytes:
    return dump_json(
        {
            "type": "ack",
            "id": request,
            "room_id": event.room_id,
            "seq": event.seq,
            "event_id": event.event_id,
            "duplicate": duplicate,
        }
    )


def event_frame(event: Event) -> bytes:
    return dump_json({"type": "event", "event": event_json(event)})


def typing_frame(room_id: str, user_id: str, typing: bool) -> bytes:
    return dump_json({"type": "typing", "room_id": room_id, "user_id": user_id, "typing": typing})


def receipt_frame(room_id: str, user_id: str, seq: int) -> bytes:
    return dump_json({"type": "receipt", "room_id": room_id, "user_id": user_id, "seq": seq})


def presence_frame(user_id: str, status: str) -> bytes:
    return dump_json({"type": "presence", "user_id": user_id, "status": status})


def mail_frame(mail: Mail) -> bytes:
    return dump_json({"type": "mail", "mail": mail_json(mail)})


def pong_frame(request: str) -> bytes:
    return dump_json({"type": "pong", "id": request})


def error_frame(request: str | None, error: SottoError) -> bytes:
    return dump_json({"type": "error", "id": request, **error.to_dict()})
