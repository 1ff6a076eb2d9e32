"""Translation between table rows and the domain records of ``sottovoce.core.models``."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Row

from sottovoce.core.models import (
    Device,
    Event,
    EventKind,
    Mail,
    Member,
    MemberState,
    RefreshToken,
    Role,
    Room,
)
from sottovoce.store.tables import devices, events, mailbox, rooms

# Only the columns a record holds: the rest (counters, blobs) stays in the database.
DEVICE_COLUMNS = tuple(devices.c[name] for name in Device.__slots__)
ROOM_COLUMNS = tuple(rooms.c[name] for name in Room.__slots__)
EVENT_COLUMNS = tuple(events.c[name] for name in Event.__slots__)
MAIL_COLUMNS = tuple(mailbox.c[name] for name in Mail.__slots__)


def device_from_row(row: Row[Any]) -> Device:
    return Device(**row._mapping)


def refresh_token_from_row(row: Row[Any]) -> RefreshToken:
    return RefreshToken(**row._mapping)


def member_from_row(row: Row[Any]) -> Member:
    return Member(row.room_id, row.user_id, Role(row.role), MemberState(row.state))


def event_from_row(row: Row[Any]) -> Event:
    return Event(**{**row._mapping, "kind": EventKind(row.kind)})


def fields(record: Any) -> dict[str, Any]:
    """A record's fields by name (shallow: ``dataclasses.asdict`` would deep-copy every body)."""
    return {name: getattr(record, name) for name in record.__slots__}


def event_values(event: Event, *, mls: bool = False) -> dict[str, Any]:
    """The row of ``event``."""
    return fields(event) | {"kind": event.kind.value, "digest": digest(event.body, mls=mls)}


def digest(body: bytes, *, mls: bool) -> bytes | None:
    """An MLS message's row carries the SHA-256 of its body, unique per room, so that the same
    bytes cannot be stored twice (a replay)."""
    return hashlib.sha256(body).digest() if mls else None
