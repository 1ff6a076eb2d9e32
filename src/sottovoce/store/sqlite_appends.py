"""Message appends on SQLite as one call on a plain ``sqlite3`` connection.

Through SQLAlchemy and aiosqlite every statement crosses to the driver's thread and back and runs
a fraction of a millisecond of Python: a batch of ten appends took 21 ms (one took 4.8 ms) where
the same statements on a ``sqlite3`` connection take 0.4 ms (0.3 ms), fsync of the WAL included.
So a batch of plain message appends (no membership rule, no welcomes) is written here, in one
transaction run by ``engines.SqliteWriter`` in its thread; anything else takes the general path in
``sql.py``, which this must answer exactly like (``Store.append_events``).

No savepoints are needed: an append writes one row, and a failed statement undoes only itself.
The room's counter and MLS epoch are read once per room and written once at the end, under the
database's write lock (``BEGIN IMMEDIATE``), which no other writer can hold meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ClauseElement, bindparam, null, select, update
from sqlalchemy.dialects import sqlite

from sottovoce.core.delivery import admit
from sottovoce.core.errors import NotFound, ReplayedMessage, StaleEpoch
from sottovoce.core.models import Event, EventKind, NewEvent
from sottovoce.store.base import Append, AppendResult
from sottovoce.store.records import EVENT_COLUMNS, digest
from sottovoce.store.tables import events, room_groups, rooms


def _sql(statement: ClauseElement) -> str:
    """Compiled once from the table definitions, so names stay in one place (tables.py)."""
    return str(statement.compile(dialect=sqlite.dialect(paramstyle="named")))


# A room's counter and MLS epoch in one statement (no room_groups row: epoch 0).
_ROOM = _sql(
    select(rooms.c.last_seq, room_groups.c.epoch)
    .select_from(rooms.outerjoin(room_groups, room_groups.c.room_id == rooms.c.room_id))
    .where(rooms.c.room_id == bindparam("room_id"))
)
_SET_LAST_SEQ = _sql(
    update(rooms).where(rooms.c.room_id == bindparam("room_id")).values(last_seq=bindparam("seq"))
)
_SET_EPOCH = _sql(
    sqlite.insert(room_groups)
    .values(room_id=bindparam("room_id"), epoch=bindparam("epoch"), group_info=null())
    .on_conflict_do_update(
        index_elements=[room_groups.c.room_id],
        set_={"epoch": bindparam("epoch"), "group_info": null()},
    )
)
# The columns of an event row in the order ``_append`` binds them: by position, so that an append
# builds no dict (records.event_values is the same row by name).
_ROW = (
    "room_id",
    "seq",
    "event_id",
    "kind",
    "sender",
    "sender_device",
    "client_id",
    "body",
    "ts",
    "digest",
)


def _insert_event() -> str:
    """Does nothing on a known client_id (a retry) or a known MLS message's digest (a replay)."""
    compiled = sqlite.insert(events).on_conflict_do_nothing().compile(dialect=sqlite.dialect())
    if tuple(compiled.positiontup or ()) != _ROW:
        raise RuntimeError(f"events columns {compiled.positiontup} are not bound as {_ROW}")
    return str(compiled)


_INSERT_EVENT = _insert_event()
_ORIGINAL = _sql(
    select(*EVENT_COLUMNS).where(
        events.c.room_id == bindparam("room_id"),
        events.c.sender_device == bindparam("sender_device"),
        events.c.client_id == bindparam("client_id"),
    )
)


def handles(append: Append) -> bool:
    """Whether ``append`` is a plain message append, the kind written here."""
    return append.membership is None and not append.welcomes


@dataclass(slots=True)
class _Room:
    stored_seq: int
    last_seq: int
    stored_epoch: int
    epoch: int


def append_batch(conn: sqlite3.Connection, appends: Sequence[Append]) -> list[AppendResult]:
    """Write ``appends`` (each ``handles``) inside the caller's transaction."""
    known: dict[str, _Room | None] = {}
    results: list[AppendResult] = []
    for append in appends:
        try:
            results.append(_append(conn, known, append))
        except Exception as exc:
            results.append(exc)
    for room_id, room in known.items():
        if room is None:
            continue
        if room.last_seq != room.stored_seq:
            conn.execute(_SET_LAST_SEQ, {"room_id": room_id, "seq": room.last_seq})
        if room.epoch != room.stored_epoch:
            # The previous epoch's GroupInfo cannot be joined from any more.
            conn.execute(_SET_EPOCH, {"room_id": room_id, "epoch": room.epoch})
    return results


def _room(conn: sqlite3.Connection, known: dict[str, _Room | None], room_id: str) -> _Room:
    if room_id not in known:
        row = conn.execute(_ROOM, {"room_id": room_id}).fetchone()
        known[room_id] = None if row is None else _Room(row[0], row[0], row[1] or 0, row[1] or 0)
    room = known[room_id]
    if room is None:
        raise NotFound(f"there is no room {room_id}")
    return room


def _append(
    conn: sqlite3.Connection, known: dict[str, _Room | None], append: Append
) -> tuple[Event, bool]:
    event = append.event
    room = _room(conn, known, event.room_id)
    epoch = room.epoch
    if append.mls is not None:
        try:
            epoch = admit(append.mls, room.epoch)
        except StaleEpoch:
            # A retry of a message stored before the epoch moved is still its duplicate.
            row = _original(conn, event).fetchone()
            if row is None:
                raise
            return _event(row), True
    seq = room.last_seq + 1
    row = (
        event.room_id,
        seq,
        event.event_id,
        event.kind.value,
        event.sender,
        event.sender_device,
        event.client_id,
        event.body,
        event.ts,
        digest(event.body, mls=append.mls is not None),
    )
    if conn.execute(_INSERT_EVENT, row).rowcount == 0:
        row = _original(conn, event).fetchone()
        if row is None:
            raise ReplayedMessage(
                "the room already holds this exact MLS message: a replay is not stored"
            )
        return _event(row), True
    room.last_seq = seq
    room.epoch = epoch
    stored = Event(
        event.room_id,
        seq,
        event.event_id,
        event.kind,
        event.sender,
        event.sender_device,
        event.client_id,
        event.body,
        event.ts,
    )
    return stored, False


def _original(conn: sqlite3.Connection, event: NewEvent) -> sqlite3.Cursor:
    keys = {"room_id": event.room_id, "sender_device": event.sender_device}
    return conn.execute(_ORIGINAL, keys | {"client_id": event.client_id})


def _event(row: tuple[Any, ...]) -> Event:
    values = dict(zip(Event.__slots__, row, strict=True))
    return Event(**{**values, "kind": EventKind(values["kind"])})
