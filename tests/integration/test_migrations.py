"""Upgrades from an older revision with rows present, on a real SQLite file and real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from sottovoce.core.delivery import Header
from sottovoce.core.errors import ReplayedMessage
from sottovoce.core.models import Event, EventKind
from sottovoce.store import open_store
from sottovoce.store.base import Append
from sottovoce.store.engines import Database
from sottovoce.store.migrate import MIGRATIONS
from sottovoce.store.records import event_values
from sottovoce.store.tables import events, members, rooms, users
from tests.integration.test_store import NOW, ROOM, new_event

MESSAGE_0 = Header(epoch=0, is_commit=False)


def _to(revision: str, how: Callable[[Config, str], None]) -> Callable[[Connection], None]:
    def migrate(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        how(config, revision)

    return migrate


async def _run(database_url: str, work: Callable[[Connection], None]) -> None:
    """``work`` in one write transaction, as ``migrate.upgrade_to_head`` runs migrations."""
    database = Database(database_url)
    try:
        await database.prepare()
        async with database.writing() as conn:
            await conn.run_sync(work)
    finally:
        await database.dispose()


def _stored(seq: int, event_id: str) -> Event:
    return Event(
        ROOM,
        seq,
        event_id,
        EventKind.MESSAGE,
        "@alice:test",
        "ALICE1",
        f"c{seq}",
        b"x%d" % seq,
        NOW,
    )


def _rows_at_0003(connection: Connection) -> None:
    connection.execute(insert(users).values(("@alice:test", "hash", False, False, NOW)))
    connection.execute(insert(rooms).values((ROOM, "group", "general", "@alice:test", NOW, 2)))
    connection.execute(insert(members).values((ROOM, "@alice:test", "owner", "joined")))
    for seq in (1, 2):
        connection.execute(insert(events).values(event_values(_stored(seq, f"$e{seq}"), mls=True)))


async def test_0004_keeps_every_event_and_drops_only_the_event_id_constraint(
    database_url: str,
) -> None:
    await _run(database_url, _to("0003", command.upgrade))
    await _run(database_url, _rows_at_0003)

    def same_event_id(connection: Connection) -> None:
        connection.execute(insert(events).values(event_values(_stored(3, "$e1"), mls=True)))

    with pytest.raises(IntegrityError):
        await _run(database_url, same_event_id)

    store = await open_store(database_url)
    try:
        assert await store.events_after(ROOM, 0, 10) == [_stored(1, "$e1"), _stored(2, "$e2")]
        room = await store.get_room(ROOM)
        assert room is not None and room.last_seq == 2
        # The constraints that remain still hold: a retried client_id is its original, the same
        # MLS bytes again are a replay.
        retry = replace(new_event("c1"), event_id="$retry", body=b"x1")
        assert await store.append_event(retry, mls=MESSAGE_0) == (_stored(1, "$e1"), True)
        with pytest.raises(ReplayedMessage):
            await store.append_event(new_event("fresh", body=b"x2"), mls=MESSAGE_0)
        # What the dropped constraint refused is stored now, by the general path and the batch's.
        alone = await store.append_event(replace(new_event("d"), event_id="$e1"), mls=MESSAGE_0)
        [batched] = await store.append_events(
            [Append(replace(new_event("e"), event_id="$e2"), mls=MESSAGE_0)]
        )
        assert isinstance(batched, tuple)
        assert [(e.seq, e.event_id, duplicate) for e, duplicate in (alone, batched)] == [
            (3, "$e1", False),
            (4, "$e2", False),
        ]
    finally:
        await store.close()
