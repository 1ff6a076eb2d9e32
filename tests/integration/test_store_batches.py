"""Batches of plain message appends (the group commit's usual batch), on SQLite and PostgreSQL.

Each engine writes these on a fast path of its own (store/sqlite_appends.py, store/pg_appends.py,
the latter with one insert for the batch and a fallback one append at a time, and one statement
for a batch of a room the node has written before), which must answer exactly as
``append_event`` would, one append at a time.
"""

from __future__ import annotations

import asyncio

import pytest

from sottovoce.core.delivery import Header
from sottovoce.core.errors import NotFound, ReplayedMessage, StaleEpoch
from sottovoce.core.models import MembershipChange, MemberState, Role
from sottovoce.store import Store, open_store, pg_appends
from sottovoce.store.base import Append
from tests.integration.test_store import (
    OTHER_ROOM,
    ROOM,
    in_room,
    new_event,
    room_of_alice,
    two_rooms_of_alice,
)

MESSAGE_0 = Header(epoch=0, is_commit=False)
COMMIT_0 = Header(epoch=0, is_commit=True)
MESSAGE_1 = Header(epoch=1, is_commit=False)


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


async def test_a_batch_over_two_rooms_numbers_each_and_a_commit_moves_only_its_rooms_epoch(
    store: Store,
) -> None:
    await two_rooms_of_alice(store)
    assert await store.set_group_info(ROOM, 0, b"info-0")
    assert await store.set_group_info(OTHER_ROOM, 0, b"other-0")
    results = await store.append_events(
        [
            Append(in_room(ROOM, "m0"), mls=MESSAGE_0),
            Append(in_room(OTHER_ROOM, "x"), mls=MESSAGE_0),
            Append(in_room(ROOM, "c0"), mls=COMMIT_0),
            Append(in_room(ROOM, "m1"), mls=MESSAGE_1),
            Append(in_room(OTHER_ROOM, "y")),
        ]
    )

    stored = [result for result in results if isinstance(result, tuple) and not result[1]]
    assert [(event.room_id, event.seq) for event, _ in stored] == [
        (ROOM, 2),
        (OTHER_ROOM, 2),
        (ROOM, 3),
        (ROOM, 4),
        (OTHER_ROOM, 3),
    ]
    assert await store.mls_epoch(ROOM) == (1, None)
    assert await store.mls_epoch(OTHER_ROOM) == (0, b"other-0")
    # The counters moved with the batch: the next append follows it.
    [after] = await store.append_events([Append(in_room(OTHER_ROOM, "z"))])
    assert isinstance(after, tuple) and after[0].seq == 4
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 4


async def test_a_stale_message_does_not_make_a_later_one_with_its_client_id_a_duplicate(
    store: Store,
) -> None:
    await room_of_alice(store)
    await store.append_events([Append(new_event("c0"), mls=COMMIT_0)])

    stale, fresh = await store.append_events(
        [Append(new_event("m", body=b"old"), mls=MESSAGE_0), Append(new_event("m"), mls=MESSAGE_1)]
    )

    assert isinstance(stale, StaleEpoch)
    assert isinstance(fresh, tuple) and fresh[0].seq == 3 and not fresh[1]
    assert [e.client_id for e in await store.events_after(ROOM, 1, 10)] == ["c0", "m"]


async def test_two_nodes_racing_commits_store_one_per_epoch_and_number_gap_free(
    database_url: str,
) -> None:
    nodes = [await open_store(database_url) for _ in range(2)]
    try:
        await two_rooms_of_alice(nodes[0])
        joined = MembershipChange("@alice:test", Role.OWNER, MemberState.JOINED)
        rounds, batches = 8, 3
        for epoch in range(rounds):
            commit = Header(epoch=epoch, is_commit=True)
            outcomes = await asyncio.gather(
                *(
                    node.append_events(
                        [
                            Append(in_room(OTHER_ROOM, f"{n}-{b}-{epoch}-a")),
                            Append(in_room(ROOM, f"{n}-{b}-{epoch}-c"), mls=commit),
                            # Every other batch takes the general path: both paths race.
                            Append(
                                in_room(OTHER_ROOM, f"{n}-{b}-{epoch}-b"),
                                (lambda _: joined) if b % 2 else None,
                            ),
                        ]
                    )
                    for n, node in enumerate(nodes)
                    for b in range(batches)
                )
            )
            commits = [results[1] for results in outcomes]
            assert sum(isinstance(result, tuple) for result in commits) == 1
            assert sum(isinstance(result, StaleEpoch) for result in commits) == len(commits) - 1

        assert await nodes[1].mls_epoch(ROOM) == (rounds, None)
        for room_id, count in ((ROOM, rounds), (OTHER_ROOM, rounds * 2 * batches * 2)):
            stored = await nodes[1].events_after(room_id, 1, 1000)
            assert [e.seq for e in stored] == list(range(2, count + 2))
            room = await nodes[0].get_room(room_id)
            assert room is not None and room.last_seq == count + 1
    finally:
        for node in nodes:
            await node.close()


async def test_a_known_room_still_refuses_retries_replays_and_stale_epochs(store: Store) -> None:
    await room_of_alice(store)
    # Each batch is one room's: after the first, the node knows the room's counter and epoch.
    [first] = await store.append_events([Append(new_event("m0"), mls=MESSAGE_0)])
    [commit] = await store.append_events([Append(new_event("c0"), mls=COMMIT_0)])
    assert await store.set_group_info(ROOM, 1, b"info-1")

    [retry] = await store.append_events([Append(new_event("c0"), mls=COMMIT_0)])
    [replay] = await store.append_events(
        [Append(new_event("again", body=b"ciphertext ALICE1 c0"), mls=MESSAGE_1)]
    )
    [stale] = await store.append_events([Append(new_event("old"), mls=MESSAGE_0)])
    [twice, twice_again] = await store.append_events(
        [Append(new_event("m1"), mls=MESSAGE_1), Append(new_event("m1"), mls=MESSAGE_1)]
    )
    [last] = await store.append_events([Append(new_event("m2"), mls=MESSAGE_1)])

    assert isinstance(first, tuple) and isinstance(commit, tuple)
    assert retry == (commit[0], True)
    assert isinstance(replay, ReplayedMessage)
    assert isinstance(stale, StaleEpoch)
    assert isinstance(twice, tuple) and twice_again == (twice[0], True)
    assert isinstance(last, tuple) and last[0].seq == 5
    assert [e.client_id for e in await store.events_after(ROOM, 1, 10)] == ["m0", "c0", "m1", "m2"]
    # Only the commit moved the epoch; the refused appends left its GroupInfo alone.
    assert await store.mls_epoch(ROOM) == (1, b"info-1")


async def test_a_node_catches_up_with_what_another_node_and_the_general_path_stored(
    database_url: str,
) -> None:
    nodes = [await open_store(database_url) for _ in range(2)]
    try:
        here, there = nodes
        await room_of_alice(here)
        await here.append_events([Append(new_event("m0"), mls=MESSAGE_0)])
        await there.append_events([Append(new_event("c0"), mls=COMMIT_0)])
        joined = MembershipChange("@alice:test", Role.OWNER, MemberState.JOINED)
        await here.append_events([Append(new_event("member"), lambda _: joined)])

        # ``here`` last saw the room at seq 2 and epoch 0.
        [stale] = await here.append_events([Append(new_event("late"), mls=MESSAGE_0)])
        [fresh] = await here.append_events([Append(new_event("m1"), mls=MESSAGE_1)])
        [after] = await here.append_events([Append(new_event("m2"), mls=MESSAGE_1)])

        assert isinstance(stale, StaleEpoch)
        assert isinstance(fresh, tuple) and fresh[0].seq == 5
        assert isinstance(after, tuple) and after[0].seq == 6
        assert await there.mls_epoch(ROOM) == (1, None)
    finally:
        for node in nodes:
            await node.close()


async def test_two_nodes_racing_one_room_batches_number_gap_free(database_url: str) -> None:
    nodes = [await open_store(database_url) for _ in range(2)]
    try:
        await room_of_alice(nodes[0])
        rounds, batches = 6, 3
        for epoch in range(rounds):
            commit = Header(epoch=epoch, is_commit=True)
            message = Header(epoch=epoch, is_commit=False)
            outcomes = await asyncio.gather(
                *(
                    node.append_events(
                        [Append(new_event(f"{n}-{b}-{epoch}-m"), mls=message)]
                        if b
                        else [Append(new_event(f"{n}-{epoch}-c"), mls=commit)]
                    )
                    for n, node in enumerate(nodes)
                    for b in range(batches)
                )
            )
            commits = [results[0] for results in outcomes[::batches]]
            assert sum(isinstance(result, tuple) for result in commits) == 1
            # Every message stored in this round either went before its commit or was refused.
            stored = [r for [r] in outcomes if isinstance(r, tuple)]
            assert len(stored) == len({event.seq for event, _ in stored})

        assert await nodes[1].mls_epoch(ROOM) == (rounds, None)
        events = await nodes[0].events_after(ROOM, 1, 1000)
        assert [e.seq for e in events] == list(range(2, len(events) + 2))
        room = await nodes[1].get_room(ROOM)
        assert room is not None and room.last_seq == len(events) + 1
    finally:
        for node in nodes:
            await node.close()


async def test_rooms_beyond_what_a_node_remembers_are_learnt_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_appends, "KNOWN_ROOMS", 1)
    await two_rooms_of_alice(store)
    for n in range(3):
        for room_id in (ROOM, OTHER_ROOM):
            [result] = await store.append_events([Append(in_room(room_id, f"m{n}"))])
            assert isinstance(result, tuple) and result[0].seq == n + 2
