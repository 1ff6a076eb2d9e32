"""The settler's walk, on futures as the group commit hands them over: submission order, and what
a stopping loop leaves (the appends themselves untouched)."""

from __future__ import annotations

import asyncio

from sottovoce.core.models import Event, EventKind, MembershipChange
from sottovoce.server.settler import Settler

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"


def event(seq: int) -> Event:
    return Event(ROOM, seq, f"$e{seq}", EventKind.MESSAGE, "@a:localhost", "D", f"c{seq}", b"x", 1)


async def test_appends_are_acknowledged_and_published_in_submission_order() -> None:
    loop = asyncio.get_running_loop()
    log: list[str] = []

    async def publish(stored: Event, _change: MembershipChange | None) -> None:
        log.append(f"publish {stored.seq}")

    settler = Settler(publish)
    committing = [loop.create_future() for _ in range(3)]
    outcomes: list[BaseException | None] = []
    for future in committing:
        settler.add(future, lambda e, _dup: log.append(f"ack {e.seq}"), outcomes.append)
    # Committed out of order: the walk still waits for the first one.
    committing[2].set_result((event(3), False))
    committing[1].set_exception(RuntimeError("refused"))
    await asyncio.sleep(0)
    assert log == [] and len(settler) == 3
    committing[0].set_result((event(1), False))
    async with asyncio.timeout(5):
        while len(settler):
            await asyncio.sleep(0)
    assert log == ["ack 1", "publish 1", "ack 3", "publish 3"]
    assert outcomes[0] is None and isinstance(outcomes[1], RuntimeError) and outcomes[2] is None


async def test_a_stopped_walk_cancels_its_waiters_not_the_appends() -> None:
    loop = asyncio.get_running_loop()

    async def publish(_stored: Event, _change: MembershipChange | None) -> None:
        return None

    settler = Settler(publish)
    committing = loop.create_future()
    outcomes: list[BaseException | None] = []
    settler.add(committing, None, outcomes.append)
    await asyncio.sleep(0)
    walking = [t for t in asyncio.all_tasks() if t.get_name() == "settler"]
    assert len(walking) == 1
    walking[0].cancel()
    await asyncio.sleep(0)
    assert not committing.cancelled()
    assert len(outcomes) == 1 and isinstance(outcomes[0], asyncio.CancelledError)
    # Committing later wakes nothing that was cancelled.
    committing.set_result((event(1), False))
    await asyncio.sleep(0)
    assert len(settler) == 0
