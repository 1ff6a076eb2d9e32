"""Message appends on PostgreSQL: a batch in one statement, or a few, on a plain asyncpg connection.

Through SQLAlchemy each append of a batch was a savepoint, the room's counter bump, the MLS epoch
read, the insert and the savepoint's release: five round trips, each with a statement build and a
compilation-cache lookup. Here a batch of plain message appends (no membership rule, no welcomes)
takes, whatever its size, ``BEGIN``; one statement locking its rooms (in room order, as the
general path locks them, so two nodes' batches cannot deadlock); one reading their MLS epochs; one
inserting every event and moving the rooms' counters; one storing the epochs a commit moved, if
any; ``COMMIT``. The statements are prepared once per connection. Anything else takes the general
path in ``sql.py``, which this must answer exactly like (``Store.append_events``).

The single insert assumes every append is stored. When that does not hold (a retried client_id
or a replayed MLS message, from the table or twice in the batch, or an append of a stale epoch,
which could be the retry of a stored one) the batch's rows are deleted again and the batch is
written one append at a time, judged as the general path judges it. No savepoints are needed:
an append writes one row with ``ON CONFLICT DO NOTHING``, which fails no statement.

A batch of one room this node has written before skips all that: it is planned from the counter
and epoch that its last batch left (``Appender``) and written by one statement, in a transaction
of its own, that moves the counter only if it still holds that value, and inserts only then. A
room's epoch moves only with an append, which moves its counter too, so an unchanged counter
vouches for the epoch as well. Whatever else happens (another node or the general path wrote to
the room meanwhile, a retry or a replay refused by a unique index) stores nothing, and the batch
takes the locked path, which learns the room afresh. At light load, where each message is a
batch of its own, that is one round trip instead of five.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from sottovoce.core.delivery import admit
from sottovoce.core.errors import NotFound, ReplayedMessage, SottoError, StaleEpoch
from sottovoce.core.models import Event, EventKind, NewEvent
from sottovoce.store.base import Append, AppendResult
from sottovoce.store.pg_pool import Connections
from sottovoce.store.records import digest

# Locked in the order of Python's sort, the general path's order (COLLATE "C": code points).
_LOCK_ROOMS = """
SELECT room_id, last_seq FROM rooms WHERE room_id = ANY($1::text[])
ORDER BY room_id COLLATE "C" FOR NO KEY UPDATE
"""
# A statement of its own, after the locks: one statement's snapshot predates its lock waits, so
# reading the epoch with the lock could miss a commit stored by the lock's previous holder.
_EPOCHS = "SELECT room_id, epoch FROM room_groups WHERE room_id = ANY($1::text[])"
# ``_stored`` builds events and rows by position, sparing each append two dicts: Event's fields
# must be the inserts' columns (less the digest), in their order.
_EVENT_COLUMNS = "room_id, seq, event_id, kind, sender, sender_device, client_id, body, ts"
if ", ".join(Event.__slots__) != _EVENT_COLUMNS:
    raise RuntimeError(f"Event's fields {Event.__slots__} are not the columns {_EVENT_COLUMNS}")
# Does nothing on a known client_id (a retry) or a known MLS message's digest (a replay).
_INSERT_EVENTS = """
WITH stored AS (
    INSERT INTO events
        (room_id, seq, event_id, kind, sender, sender_device, client_id, body, ts, digest)
    SELECT * FROM unnest(
        $1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::bytea[], $9::bigint[], $10::bytea[]
    )
    ON CONFLICT DO NOTHING
    RETURNING room_id, seq
), counted AS (
    UPDATE rooms SET last_seq = last.seq
    FROM (SELECT room_id, max(seq) AS seq FROM stored GROUP BY room_id) AS last
    WHERE rooms.room_id = last.room_id
)
SELECT room_id, seq FROM stored
"""
_UNDO = """
DELETE FROM events USING unnest($1::text[], $2::bigint[]) AS stored (room_id, seq)
WHERE events.room_id = stored.room_id AND events.seq = stored.seq
"""
_INSERT_EVENT = """
INSERT INTO events
    (room_id, seq, event_id, kind, sender, sender_device, client_id, body, ts, digest)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING RETURNING seq
"""
_ORIGINAL = """
SELECT room_id, seq, event_id, kind, sender, sender_device, client_id, body, ts FROM events
WHERE room_id = $1 AND sender_device = $2 AND client_id = $3
"""
_SET_LAST_SEQS = """
UPDATE rooms SET last_seq = counted.seq FROM unnest($1::text[], $2::bigint[]) AS counted (id, seq)
WHERE rooms.room_id = counted.id
"""
# The previous epoch's GroupInfo cannot be joined from any more.
_SET_EPOCHS = """
INSERT INTO room_groups (room_id, epoch, group_info)
SELECT room_id, epoch, NULL FROM unnest($1::text[], $2::bigint[]) AS moved (room_id, epoch)
ON CONFLICT (room_id) DO UPDATE SET epoch = excluded.epoch, group_info = NULL
"""


# Only while the room's counter is still what the plan started from: otherwise nothing is bumped,
# so nothing is inserted or moved, and the count is 0. A unique index refusing a row (a retry, a
# replay) fails the whole statement, and its transaction, instead.
_APPEND_KNOWN = """
WITH bumped AS (
    UPDATE rooms SET last_seq = $12 WHERE room_id = $11 AND last_seq = $13 RETURNING room_id
), stored AS (
    INSERT INTO events
        (room_id, seq, event_id, kind, sender, sender_device, client_id, body, ts, digest)
    SELECT * FROM unnest(
        $1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::bytea[], $9::bigint[], $10::bytea[]
    ) WHERE EXISTS (SELECT FROM bumped)
    RETURNING seq
), moved AS (
    INSERT INTO room_groups (room_id, epoch, group_info)
    SELECT room_id, $14::bigint, NULL FROM bumped WHERE $15::boolean
    ON CONFLICT (room_id) DO UPDATE SET epoch = excluded.epoch, group_info = NULL
)
SELECT count(*) FROM stored
"""


KNOWN_ROOMS = 10_000


@dataclass(slots=True)
class _Room:
    last_seq: int
    epoch: int = 0


class Appender:
    """Appends on one node, remembering each room's counter and epoch as its last batch left them
    (for the one-statement path; a stale memory costs a round trip, never a wrong answer), for
    the ``KNOWN_ROOMS`` rooms written to last."""

    def __init__(self, pool: Connections) -> None:
        self._pool = pool
        self._known: dict[str, _Room] = {}

    def _remember(self, room_id: str, room: _Room) -> None:
        # Re-inserted, so that the dict's order is the order rooms were last written in.
        self._known.pop(room_id, None)
        self._known[room_id] = room
        if len(self._known) > KNOWN_ROOMS:
            del self._known[next(iter(self._known))]

    async def append_batch(self, appends: Sequence[Append]) -> list[AppendResult]:
        """Write ``appends`` (plain message appends) in one transaction."""
        room_ids = {append.event.room_id for append in appends}
        if len(room_ids) == 1:
            results = await self._append_known(room_ids.pop(), appends)
            if results is not None:
                return results
        results, rooms = await _append_locked(self._pool, appends)
        for room_id, room in rooms.items():
            self._remember(room_id, room)
        return results

    async def _append_known(
        self, room_id: str, appends: Sequence[Append]
    ) -> list[AppendResult] | None:
        """The results, if the batch was stored by ``_APPEND_KNOWN``; None if it must be locked."""
        known = self._known.get(room_id)
        if known is None:
            return None
        planned = _plan({room_id: known}, appends)
        if planned is None:
            return None
        results, rows, rooms = planned
        room = rooms[room_id]
        async with self._pool.acquire() as conn:
            try:
                stored = await conn.fetchval(
                    _APPEND_KNOWN,
                    *zip(*rows, strict=True),
                    room_id,
                    room.last_seq,
                    known.last_seq,
                    room.epoch,
                    room.epoch != known.epoch,
                )
            except asyncpg.UniqueViolationError:
                return None
        if stored != len(rows):
            return None
        self._remember(room_id, room)
        return results


async def _append_locked(
    pool: Connections, appends: Sequence[Append]
) -> tuple[list[AppendResult], dict[str, _Room]]:
    """The results, and the rooms as the committed transaction left them."""
    async with pool.acquire() as conn, conn.transaction():
        locked = await _lock(conn, appends)
        planned = _plan(locked, appends)
        if planned is not None:
            results, rows, rooms = planned
            stored = await conn.fetch(_INSERT_EVENTS, *zip(*rows, strict=True)) if rows else []
            if len(stored) == len(rows):
                await _set_epochs(conn, locked, rooms)
                return results, rooms
            if stored:
                await conn.execute(_UNDO, *zip(*stored, strict=True))
        return await _one_at_a_time(conn, locked, appends)


async def _lock(conn: asyncpg.Connection, appends: Sequence[Append]) -> dict[str, _Room]:
    """The batch's rooms that exist, locked, with their counters and MLS epochs."""
    room_ids = sorted({append.event.room_id for append in appends})
    rows = await conn.fetch(_LOCK_ROOMS, room_ids)
    rooms = {room_id: _Room(last_seq) for room_id, last_seq in rows}
    if rooms and any(append.mls is not None for append in appends):
        for room_id, epoch in await conn.fetch(_EPOCHS, list(rooms)):
            rooms[room_id].epoch = epoch
    return rooms


def _plan(
    locked: dict[str, _Room], appends: Sequence[Append]
) -> tuple[list[AppendResult], list[tuple[Any, ...]], dict[str, _Room]] | None:
    """The results, rows and rooms if every append is stored; None at the first of a stale
    epoch, whose result depends on the table."""
    rooms = {room_id: replace(room) for room_id, room in locked.items()}
    results: list[AppendResult] = []
    rows: list[tuple[Any, ...]] = []
    for append in appends:
        event = append.event
        room = rooms.get(event.room_id)
        if room is None:
            results.append(NotFound(f"there is no room {event.room_id}"))
            continue
        if append.mls is not None:
            try:
                room.epoch = admit(append.mls, room.epoch)
            except StaleEpoch:
                return None
        room.last_seq += 1
        stored, row = _stored(event, room.last_seq, mls=append.mls is not None)
        rows.append(row)
        results.append((stored, False))
    return results, rows, rooms


async def _one_at_a_time(
    conn: asyncpg.Connection, locked: dict[str, _Room], appends: Sequence[Append]
) -> tuple[list[AppendResult], dict[str, _Room]]:
    rooms = {room_id: replace(room) for room_id, room in locked.items()}
    results: list[AppendResult] = []
    for append in appends:
        try:
            results.append(await _append(conn, rooms, append))
        except SottoError as exc:
            # A refusal of this append alone; a database error aborts the whole transaction.
            results.append(exc)
    # Every room: the undone insert had moved the counters too.
    await conn.execute(_SET_LAST_SEQS, list(rooms), [room.last_seq for room in rooms.values()])
    await _set_epochs(conn, locked, rooms)
    return results, rooms


async def _append(
    conn: asyncpg.Connection, rooms: dict[str, _Room], append: Append
) -> tuple[Event, bool]:
    event = append.event
    room = rooms.get(event.room_id)
    if room is None:
        raise NotFound(f"there is no room {event.room_id}")
    epoch = room.epoch
    if append.mls is not None:
        try:
            epoch = admit(append.mls, room.epoch)
        except StaleEpoch:
            # A retry of a message stored before the epoch moved is still its duplicate.
            original = await _original(conn, event)
            if original is None:
                raise
            return original, True
    stored, row = _stored(event, room.last_seq + 1, mls=append.mls is not None)
    if await conn.fetchval(_INSERT_EVENT, *row) is None:
        original = await _original(conn, event)
        if original is None:
            raise ReplayedMessage(
                "the room already holds this exact MLS message: a replay is not stored"
            )
        return original, True
    room.last_seq = stored.seq
    room.epoch = epoch
    return stored, False


async def _set_epochs(
    conn: asyncpg.Connection, locked: dict[str, _Room], rooms: dict[str, _Room]
) -> None:
    moved = [room_id for room_id, room in rooms.items() if room.epoch != locked[room_id].epoch]
    if moved:
        await conn.execute(_SET_EPOCHS, moved, [rooms[room_id].epoch for room_id in moved])


async def _original(conn: asyncpg.Connection, event: NewEvent) -> Event | None:
    row = await conn.fetchrow(_ORIGINAL, event.room_id, event.sender_device, event.client_id)
    return None if row is None else Event(**{**dict(row), "kind": EventKind(row["kind"])})


def _stored(event: NewEvent, seq: int, *, mls: bool) -> tuple[Event, tuple[Any, ...]]:
    """The event as stored at ``seq``, and its row in the inserts' column order."""
    room_id, event_id, kind, sender = event.room_id, event.event_id, event.kind, event.sender
    device, client_id, body, ts = event.sender_device, event.client_id, event.body, event.ts
    stored = Event(room_id, seq, event_id, kind, sender, device, client_id, body, ts)
    row = (room_id, seq, event_id, kind.value, sender, device, client_id, body, ts)
    return stored, (*row, digest(body, mls=mls))
