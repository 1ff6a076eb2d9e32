"""How group-commit batches form, on SQLite and PostgreSQL: appends submitted while the event loop
makes one more pass after the first (frames it read meanwhile) share that first one's commit."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from sottovoce.store import Store
from sottovoce.store.base import Append, AppendResult
from sottovoce.store.groupcommit import GroupCommit
from tests.integration.test_store import (
    new_event,
    room_of_alice,
)


async def test_appends_submitted_within_one_pass_of_the_loop_share_a_commit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await room_of_alice(store)
    batches: list[list[str]] = []
    append_events = store.append_events

    async def noted(appends: Sequence[Append]) -> list[AppendResult]:
        batches.append([append.event.client_id for append in appends])
        return await append_events(appends)

    monkeypatch.setattr(store, "append_events", noted)
    commits = GroupCommit(store)

    async def a_pass_later(client_id: str) -> tuple[object, bool]:
        # Like a handler woken for a frame the loop read after the first submit.
        await asyncio.sleep(0)
        return await commits.submit(Append(new_event(client_id)))

    first = commits.submit(Append(new_event("first")))
    results = await asyncio.gather(first, *(a_pass_later(f"c{n}") for n in range(3)))
    assert batches == [["first", "c0", "c1", "c2"]]
    assert not any(duplicate for _, duplicate in results)

    # Later appends get batches of their own, and a lone one goes out alone.
    assert (await commits.submit(Append(new_event("alone"))))[1] is False
    assert batches[1:] == [["alone"]]
