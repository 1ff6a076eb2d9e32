"""The per-room locks that keep a room's live stream in order: one holder at a time, first come,
first served, waiters that are cancelled leave the line, and nothing is kept for idle rooms."""

from __future__ import annotations

import asyncio

import pytest

from sottovoce.server.roomlocks import RoomLocks

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"
OTHER = "!bbbbbbbbbbbbbbbbbbbbbb:localhost"


async def test_holders_of_a_room_take_turns_in_arrival_order() -> None:
    locks = RoomLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, room: str = ROOM) -> None:
        async with locks.hold(room):
            order.append(f"{name} in")
            if name == "first":
                await release.wait()
            order.append(f"{name} out")

    tasks = [asyncio.create_task(hold(name)) for name in ("first", "second", "third")]
    other = asyncio.create_task(hold("other", OTHER))
    await other
    await asyncio.sleep(0)
    assert order == ["first in", "other in", "other out"]
    release.set()
    await asyncio.gather(*tasks)
    assert order[3:] == ["first out", "second in", "second out", "third in", "third out"]
    assert len(locks) == 0


async def test_a_cancelled_waiter_leaves_the_line_and_the_next_one_gets_the_room() -> None:
    locks = RoomLocks()
    release = asyncio.Event()
    entered: list[str] = []

    async def hold(name: str) -> None:
        async with locks.hold(ROOM):
            entered.append(name)
            if name == "first":
                await release.wait()

    first = asyncio.create_task(hold("first"))
    await asyncio.sleep(0)
    waiting = asyncio.create_task(hold("cancelled"))
    last = asyncio.create_task(hold("last"))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    async with asyncio.timeout(10):
        await asyncio.gather(first, last)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert entered == ["first", "last"]
    assert len(locks) == 0


async def test_a_waiter_cancelled_as_its_turn_comes_passes_the_turn_on() -> None:
    locks = RoomLocks()
    entered: list[str] = []
    first_holds = asyncio.Event()
    release = asyncio.Event()
    waiters: list[asyncio.Task[None]] = []

    async def first() -> None:
        async with locks.hold(ROOM):
            first_holds.set()
            await release.wait()
        # The room was just handed to the first waiter, which has not run yet.
        waiters[0].cancel()

    async def hold(name: str) -> None:
        async with locks.hold(ROOM):
            entered.append(name)

    holder = asyncio.create_task(first())
    await first_holds.wait()
    waiters += [asyncio.create_task(hold("unlucky")), asyncio.create_task(hold("last"))]
    await asyncio.sleep(0)
    release.set()
    # Bounded, so that a turn lost with the cancelled waiter fails the test instead of hanging it.
    async with asyncio.timeout(10):
        await asyncio.gather(holder, waiters[1])
    with pytest.raises(asyncio.CancelledError):
        await waiters[0]
    assert entered == ["last"]
    assert len(locks) == 0
