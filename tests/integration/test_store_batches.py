"""Batches of plain message appends (the group commit's usual batch), on SQLite and PostgreSQL.

SQLite writes these in one call on a plain connection (store/sqlite_appends.py) while PostgreSQL
takes the general path: both must answer exactly as ``append_event`` would, one append at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sottovoce.core.delivery import Header
from sottovoce.core.errors import NotFound, StaleEpoch
from sottovoce.store import Store, open_store
from sottovoce.store.base import Append
from tests.integration.test_store import (
    ROOM,
    database_url,  # noqa: F401  (the fixture: SQLite and PostgreSQL)
    in_room,
    new_event,
    room_of_alice,
)

MESSAGE_0 = Header(epoch=0, is_commit=False)
COMMIT_0 = Header(epoch=0, is_commit=True)
MESSAGE_1 = Header(epoch=1, is_commit=False)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:  # noqa: F811
    opened = await open_store(database_url)
    yield opened
    await opened.close()


async def test_duplicates_and_unknown_rooms_in_a_batch_fail_alone(store: Store) -> None:
    await room_of_alice(store)
    before, _ = await store.append_event(new_event("before"))
    results = await store.append_events(
        [
            Append(new_event("a")),
            Append(new_event("before")),
            Append(new_event("a")),
            Append(new_event("a", device="ALICE2")),
            Append(in_room("!CCCCCCCCCCCCCCCCCCCCCC:test", "nowhere")),
            Append(new_event("b")),
        ]
    )

    a, again, a_again, other_device, nowhere, b = results
    assert isinstance(a, tuple) and a[0].seq == 3 and not a[1]
    assert again == (before, True)
    assert a_again == (a[0], True)
    assert isinstance(other_device, tuple) and other_device[0].seq == 4 and not other_device[1]
    assert isinstance(nowhere, NotFound)
    assert isinstance(b, tuple) and b[0].seq == 5
    stored = await store.events_after(ROOM, 1, 10)
    assert [(e.client_id, e.sender_device) for e in stored] == [
        ("before", "ALICE1"),
        ("a", "ALICE1"),
        ("a", "ALICE2"),
        ("b", "ALICE1"),
    ]
    assert stored[1:] == [a[0], other_device[0], b[0]]
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 5


async def test_a_commit_in_a_batch_moves_the_epoch_for_the_appends_after_it(store: Store) -> None:
    await room_of_alice(store)
    assert await store.set_group_info(ROOM, 0, b"info-0")
    results = await store.append_events(
        [
            Append(new_event("m0"), mls=MESSAGE_0),
            Append(new_event("c0"), mls=COMMIT_0),
            Append(new_event("late"), mls=MESSAGE_0),
            Append(new_event("rival"), mls=COMMIT_0),
            Append(new_event("m1"), mls=MESSAGE_1),
            Append(new_event("c0"), mls=COMMIT_0),
        ]
    )

    m0, c0, late, rival, m1, retry = results
    assert isinstance(late, StaleEpoch) and isinstance(rival, StaleEpoch)
    assert isinstance(m0, tuple) and isinstance(c0, tuple) and isinstance(m1, tuple)
    assert [m0[0].seq, c0[0].seq, m1[0].seq] == [2, 3, 4]
    assert retry == (c0[0], True)
    # The old epoch's GroupInfo is gone with it.
    assert await store.mls_epoch(ROOM) == (1, None)
    assert [e.client_id for e in await store.events_after(ROOM, 1, 10)] == ["m0", "c0", "m1"]


async def test_a_retry_from_before_a_commit_is_a_duplicate_and_the_epoch_stays(
    store: Store,
) -> None:
    await room_of_alice(store)
    [first] = await store.append_events([Append(new_event("m0"), mls=MESSAGE_0)])
    await store.append_events([Append(new_event("c0"), mls=COMMIT_0)])
    assert await store.set_group_info(ROOM, 1, b"info-1")

    [retry, stale] = await store.append_events(
        [Append(new_event("m0"), mls=MESSAGE_0), Append(new_event("new"), mls=MESSAGE_0)]
    )

    assert isinstance(first, tuple) and retry == (first[0], True)
    assert isinstance(stale, StaleEpoch)
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 3
    # No commit was stored: the epoch's GroupInfo stays.
    assert await store.mls_epoch(ROOM) == (1, b"info-1")
