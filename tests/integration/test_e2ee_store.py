"""The store's side of the Delivery Service rules, on SQLite and PostgreSQL: one commit per epoch
even when commits race, and the GroupInfo kept only for the current epoch."""

from __future__ import annotations

import asyncio

import pytest

from sottovoce.core.delivery import Header
from sottovoce.core.errors import StaleEpoch
from sottovoce.store import Store
from tests.integration.test_store import (
    ROOM,
    new_event,
    room_of_alice,
)


async def test_racing_commits_for_one_epoch_store_exactly_one(store: Store) -> None:
    await room_of_alice(store)
    commit = Header(epoch=0, is_commit=True)
    results = await asyncio.gather(
        *(store.append_event(new_event(f"c{i}"), mls=commit) for i in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, StaleEpoch) for r in results if isinstance(r, BaseException))
    assert (await store.mls_epoch(ROOM))[0] == 1
    # Nothing of the refused commits was stored.
    assert [e.client_id for e in await store.events_after(ROOM, 1, 100)] == [
        r[0].client_id for r in results if isinstance(r, tuple)
    ]


async def test_a_retried_commit_is_a_duplicate_not_stale(store: Store) -> None:
    await room_of_alice(store)
    commit = Header(epoch=0, is_commit=True)
    first, _ = await store.append_event(new_event("commit"), mls=commit)
    again, duplicate = await store.append_event(new_event("commit"), mls=commit)
    assert (again, duplicate) == (first, True)
    assert (await store.mls_epoch(ROOM))[0] == 1


async def test_group_info_is_kept_for_the_current_epoch_only(store: Store) -> None:
    await room_of_alice(store)
    assert await store.set_group_info(ROOM, 0, b"info-0")
    assert await store.mls_epoch(ROOM) == (0, b"info-0")
    assert not await store.set_group_info(ROOM, 1, b"info-1")
    await store.append_event(new_event("commit"), mls=Header(epoch=0, is_commit=True))
    assert await store.mls_epoch(ROOM) == (1, None)
    with pytest.raises(StaleEpoch):
        await store.append_event(new_event("message"), mls=Header(epoch=0, is_commit=False))
    assert await store.set_group_info(ROOM, 1, b"info-1")
    assert await store.mls_epoch(ROOM) == (1, b"info-1")
