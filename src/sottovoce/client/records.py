"""Typed values of the wire's JSON objects as the SDK hands them out, and their parsers.

A parser raises ``ProtocolViolation`` when the server's answer lacks a field or has the wrong type,
so a broken server shows up as one clear error, not as a ``KeyError`` deep inside an application.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sottovoce.client.errors import ProtocolViolation
from sottovoce.core.models import Event, EventKind, Mail, MemberState, Receipt, Role, RoomKind

Json = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in device. Tokens are kept out of ``repr`` so they never reach a log."""

    user_id: str
    device_id: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)

    @property
    def server_name(self) -> str:
        return self.user_id.partition(":")[2]

    def to_json(self) -> Json:
        return {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }


@dataclass(frozen=True, slots=True)
class RoomMember:
    user_id: str
    role: Role
    state: MemberState


@dataclass(frozen=True, slots=True)
class RoomInfo:
    room_id: str
    kind: RoomKind
    name: str
    created_by: str
    created_at: int
    members: tuple[RoomMember, ...]
    last_seq: int


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    display_name: str
    created_at: int
    last_seen_at: int
    current: bool


@dataclass(frozen=True, slots=True)
class Sent:
    """Where a sent message landed; ``duplicate`` means the server already had this client_id."""

    room_id: str
    seq: int
    event_id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Page:
    """Events in ascending order and the cursor for the next page (None: nothing further)."""

    events: tuple[Event, ...]
    cursor: int | None


@dataclass(frozen=True, slots=True)
class KeyPackage:
    device_id: str
    package: bytes
    last_resort: bool


@dataclass(frozen=True, slots=True)
class Typing:
    room_id: str
    user_id: str
    typing: bool


@dataclass(frozen=True, slots=True)
class Presence:
    user_id: str
    status: str


LiveItem = Event | Mail | Typing | Receipt | Presence


def field_of(obj: Json, name: str, kind: type[T]) -> T:
    value = obj.get(name)
    # bool is an int subclass; a server sending true for a seq is broken.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolViolation(f"server answer: {name!r} should be {kind.__name__}")
    return value


def optional_int(obj: Json, name: str) -> int | None:
    return None if obj.get(name) is None else field_of(obj, name, int)


def b64_of(obj: Json, name: str) -> bytes:
    try:
        return base64.b64decode(field_of(obj, name, str), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolViolation(f"server answer: {name!r} is not base64") from None


def object_of(obj: Json, name: str) -> Json:
    return field_of(obj, name, dict)


def list_of(obj: Json, name: str) -> list[Json]:
    items = field_of(obj, name, list)
    if not all(isinstance(item, dict) for item in items):
        raise ProtocolViolation(f"server answer: {name!r} should be a list of objects")
    return items


def session_from(obj: Json) -> Session:
    return Session(
        user_id=field_of(obj, "user_id", str),
        device_id=field_of(obj, "device_id", str),
        access_token=field_of(obj, "access_token", str),
        refresh_token=field_of(obj, "refresh_token", str),
    )


def event_from(obj: Json) -> Event:
    try:
        kind = EventKind(field_of(obj, "kind", str))
    except ValueError:
        raise ProtocolViolation("server answer: unknown event kind") from None
    return Event(
        room_id=field_of(obj, "room_id", str),
        seq=field_of(obj, "seq", int),
        event_id=field_of(obj, "event_id", str),
        kind=kind,
        sender=field_of(obj, "sender", str),
        sender_device=field_of(obj, "sender_device", str),
        client_id=field_of(obj, "client_id", str),
        body=b64_of(obj, "body"),
        ts=field_of(obj, "ts", int),
    )


def mail_from(obj: Json, recipient_device: str) -> Mail:
    return Mail(
        id=field_of(obj, "id", int),
        recipient_device=recipient_device,
        sender=field_of(obj, "sender", str),
        sender_device=field_of(obj, "sender_device", str),
        kind=field_of(obj, "kind", str),
        body=b64_of(obj, "body"),
        ts=field_of(obj, "ts", int),
    )


def room_from(obj: Json) -> RoomInfo:
    try:
        members = tuple(
            RoomMember(
                user_id=field_of(m, "user_id", str),
                role=Role(field_of(m, "role", str)),
                state=MemberState(field_of(m, "state", str)),
            )
            for m in list_of(obj, "members")
        )
        kind = RoomKind(field_of(obj, "kind", str))
    except ValueError:
        raise ProtocolViolation("server answer: unknown room kind, role or state") from None
    return RoomInfo(
        room_id=field_of(obj, "room_id", str),
        kind=kind,
        name=field_of(obj, "name", str),
        created_by=field_of(obj, "created_by", str),
        created_at=field_of(obj, "created_at", int),
        members=members,
        last_seq=field_of(obj, "last_seq", int),
    )


def device_from(obj: Json) -> DeviceInfo:
    return DeviceInfo(
        device_id=field_of(obj, "device_id", str),
        display_name=field_of(obj, "display_name", str),
        created_at=field_of(obj, "created_at", int),
        last_seen_at=field_of(obj, "last_seen_at", int),
        current=field_of(obj, "current", bool),
    )


def sent_from_ack(obj: Json) -> Sent:
    return Sent(
        room_id=field_of(obj, "room_id", str),
        seq=field_of(obj, "seq", int),
        event_id=field_of(obj, "event_id", str),
        duplicate=field_of(obj, "duplicate", bool),
    )


def sent_from_http(obj: Json) -> Sent:
    event = event_from(object_of(obj, "event"))
    return Sent(event.room_id, event.seq, event.event_id, field_of(obj, "duplicate", bool))
