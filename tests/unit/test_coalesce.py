"""Reads taken together: who goes in which load, and what each reader is answered."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from sottovoce.store.coalesce import Coalescer


class Table:
    """A load over a dict that holds each load until the test lets it finish."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.loads: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.failure: Exception | None = None

    async def load(self, keys: Sequence[str]) -> Mapping[str, int]:
        self.loads.append(list(keys))
        # What the database holds when the statement starts is what it answers.
        answer = {key: self.rows.get(key, 0) for key in keys}
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.failure is not None:
            raise self.failure
        return answer

    def finish(self, load: int) -> None:
        self.gates[load].set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_read_starts_at_once() -> None:
    table = Table({"a": 1})
    coalescer = Coalescer(table.load, lanes=1, max_keys=10)
    reading = asyncio.ensure_future(coalescer.get("a"))
    await settle()
    assert table.loads == [["a"]]
    table.finish(0)
    assert await reading == 1


async def test_reads_arriving_meanwhile_go_together_and_share_a_key() -> None:
    table = Table({"a": 1, "b": 2, "c": 3})
    coalescer = Coalescer(table.load, lanes=1, max_keys=10)
    first = asyncio.ensure_future(coalescer.get("a"))
    await settle()
    waiting = [asyncio.ensure_future(coalescer.get(key)) for key in ("b", "c", "b", "a")]
    await settle()
    assert table.loads == [["a"]]
    table.finish(0)
    await settle()
    assert table.loads == [["a"], ["b", "c", "a"]]
    table.finish(1)
    assert await first == 1
    assert await asyncio.gather(*waiting) == [2, 3, 2, 1]


async def test_no_reader_is_answered_by_a_load_that_started_before_it_asked() -> None:
    table = Table({"device": 0})
    coalescer = Coalescer(table.load, lanes=2, max_keys=10)
    before = asyncio.ensure_future(coalescer.get("device"))
    await settle()
    # Revoked after the first load read it: the next reader must see the revocation.
    table.rows["device"] = 1
    after = asyncio.ensure_future(coalescer.get("device"))
    await settle()
    assert table.loads == [["device"], ["device"]]
    table.finish(1)
    table.finish(0)
    assert (await before, await after) == (0, 1)


async def test_lanes_and_max_keys_bound_the_loads() -> None:
    table = Table({})
    coalescer = Coalescer(table.load, lanes=2, max_keys=3)
    readers = [asyncio.ensure_future(coalescer.get(str(n))) for n in range(8)]
    await settle()
    assert table.loads == [["0"], ["1"]]
    table.finish(0)
    await settle()
    assert table.loads == [["0"], ["1"], ["2", "3", "4"]]
    table.finish(1)
    await settle()
    assert table.loads[3] == ["5", "6", "7"]
    table.finish(2)
    table.finish(3)
    assert await asyncio.gather(*readers) == [0] * 8


async def test_a_reader_that_gives_up_leaves_the_others_their_answer() -> None:
    table = Table({"a": 1})
    coalescer = Coalescer(table.load, lanes=1, max_keys=10)
    blocking = asyncio.ensure_future(coalescer.get("x"))
    await settle()
    gone, staying = (asyncio.ensure_future(coalescer.get("a")) for _ in range(2))
    await settle()
    gone.cancel()
    table.finish(0)
    await settle()
    table.finish(1)
    assert await staying == 1
    assert await blocking == 0
    assert gone.cancelled()


async def test_a_failed_load_fails_its_readers_only() -> None:
    table = Table({"a": 1})
    coalescer = Coalescer(table.load, lanes=1, max_keys=10)
    failing = asyncio.ensure_future(coalescer.get("a"))
    await settle()
    later = asyncio.ensure_future(coalescer.get("a"))
    await settle()
    table.failure = RuntimeError("connection lost")
    table.finish(0)
    with pytest.raises(RuntimeError, match="connection lost"):
        await failing
    table.failure = None
    await settle()
    table.finish(1)
    assert await later == 1


async def test_a_key_the_load_did_not_answer_fails_its_readers() -> None:
    async def forgetful(keys: Sequence[str]) -> Mapping[str, int]:
        return {}

    coalescer = Coalescer(forgetful, lanes=1, max_keys=10)
    with pytest.raises(KeyError):
        await coalescer.get("a")
    # The lane it held is free again.
    with pytest.raises(KeyError):
        await asyncio.wait_for(coalescer.get("b"), 1)
