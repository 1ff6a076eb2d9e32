"""The reads of every connect and resume, prepared once.

Each is one SQLAlchemy statement with bind parameters and a function that makes the record from
a row by position; SQLAlchemy only compiles it, once per engine. Through SQLAlchemy and its async
drivers each of these reads cost a statement build, a compilation-cache lookup, thread hand-offs
or extra round trips and row processing, many times the query itself, and a reconnect storm is
made of little else (docs/performance.md). On SQLite its text runs on a plain ``sqlite3``
connection on the event loop's own thread (``Database.sqlite_reader``): in WAL mode a read never
waits for a writer, so the loop is held only for the query. On PostgreSQL it runs prepared on a
plain asyncpg connection in autocommit, one round trip (``store/pg_reads.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.dialects import sqlite

from sottovoce.core.models import Device, Event, EventKind, Mail, MemberState, Room, RoomKind
from sottovoce.store.records import DEVICE_COLUMNS, EVENT_COLUMNS, MAIL_COLUMNS, ROOM_COLUMNS
from sottovoce.store.tables import devices, events, mailbox, members, rooms

T = TypeVar("T")
Row = Sequence[Any]


@dataclass(frozen=True)
class Read(Generic[T]):
    statement: Select[Any]
    record: Callable[[Row], T]
    sqlite_text: str = field(init=False)
    # The parameters SQLAlchemy made for the statement's own constants (the IN list, OFFSET 0).
    sqlite_constants: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        compiled = self.statement.compile(dialect=sqlite.dialect(paramstyle="named"))
        object.__setattr__(self, "sqlite_text", str(compiled))
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        object.__setattr__(self, "sqlite_constants", constants)

    def sqlite_rows(self, conn: sqlite3.Connection, params: dict[str, Any]) -> list[T]:
        rows = conn.execute(self.sqlite_text, self.sqlite_constants | params).fetchall()
        return [self.record(row) for row in rows]


# Columns in the order of the record's fields (records.py), so a row is the record's arguments.
def _device(row: Row) -> Device:
    device_id, user_id, display_name, created_at, last_seen_at, revoked = row
    # SQLite keeps a boolean as 0 or 1.
    return Device(device_id, user_id, display_name, created_at, last_seen_at, bool(revoked))


def _room(row: Row) -> Room:
    room_id, kind, *rest = row
    return Room(room_id, RoomKind(kind), *rest)


def _event(row: Row) -> Event:
    room_id, seq, event_id, kind, sender, device, client_id, body, ts = row
    return Event(room_id, seq, event_id, EventKind(kind), sender, device, client_id, body, ts)


def _mail(row: Row) -> Mail:
    return Mail(*row)


DEVICE = Read(select(*DEVICE_COLUMNS).where(devices.c.device_id == bindparam("device_id")), _device)
ROOM = Read(select(*ROOM_COLUMNS).where(rooms.c.room_id == bindparam("room_id")), _room)
ROOMS_OF_USER = Read(
    select(*ROOM_COLUMNS)
    .join(members, members.c.room_id == rooms.c.room_id)
    .where(
        members.c.user_id == bindparam("user_id"),
        # Joined or invited: the rooms a user sees.
        or_(
            members.c.state == MemberState.JOINED.value,
            members.c.state == MemberState.INVITED.value,
        ),
    )
    .order_by(rooms.c.created_at, rooms.c.room_id),
    _room,
)
EVENTS_AFTER = Read(
    select(*EVENT_COLUMNS)
    .where(events.c.room_id == bindparam("room_id"), events.c.seq > bindparam("after"))
    .order_by(events.c.seq)
    .limit(bindparam("limit")),
    _event,
)


def _events_after_each(slots: int) -> Read[Event]:
    ranges = (
        and_(
            events.c.room_id == bindparam(f"room_{slot}"), events.c.seq > bindparam(f"after_{slot}")
        )
        for slot in range(slots)
    )
    statement = select(*EVENT_COLUMNS).where(or_(*ranges))
    return Read(
        statement.order_by(events.c.room_id, events.c.seq).limit(bindparam("limit")), _event
    )


# The events of several rooms, each past its own cursor, by how many rooms a statement reads: a
# few statement texts, each compiled and prepared once. A slot left unused names no room, and
# costs an index lookup, so a read takes the smallest that holds its rooms.
_EVENTS_AFTER_EACH = {slots: _events_after_each(slots) for slots in (2, 4, 8, 16, 32)}
ROOMS_PER_READ = max(_EVENTS_AFTER_EACH)


def events_after_each(cursors: Mapping[str, int], limit: int) -> tuple[Read[Event], dict[str, Any]]:
    """The read of ``Store.events_after_each`` for up to ``ROOMS_PER_READ`` rooms, and its
    parameters."""
    if len(cursors) == 1:
        [(room_id, after)] = cursors.items()
        return EVENTS_AFTER, {"room_id": room_id, "after": after, "limit": limit}
    slots = min(n for n in _EVENTS_AFTER_EACH if n >= len(cursors))
    params: dict[str, Any] = {"limit": limit}
    padded = [*cursors.items(), *[("", 0)] * (slots - len(cursors))]
    for slot, (room_id, after) in enumerate(padded):
        params[f"room_{slot}"] = room_id
        params[f"after_{slot}"] = after
    return _EVENTS_AFTER_EACH[slots], params


MAIL_AFTER = Read(
    select(*MAIL_COLUMNS)
    .where(mailbox.c.recipient_device == bindparam("device_id"), mailbox.c.id > bindparam("after"))
    .order_by(mailbox.c.id)
    .limit(bindparam("limit")),
    _mail,
)
