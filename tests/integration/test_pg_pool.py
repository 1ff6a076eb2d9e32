"""The connections of PostgreSQL's hot paths (store/pg_pool.py), against a real server."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from sottovoce.store.pg_pool import Connections

pytestmark = pytest.mark.postgres


class Opener:
    """Opens real connections and counts them; ``fail`` makes the next opens raise."""

    def __init__(self, url: str) -> None:
        self.dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        self.opened = 0
        self.fail = 0

    async def __call__(self) -> asyncpg.Connection:
        if self.fail:
            self.fail -= 1
            await asyncio.sleep(0)  # others queue meanwhile
            raise OSError("refused")
        self.opened += 1
        return await asyncpg.connect(self.dsn)


async def test_many_tasks_share_at_most_size_connections(postgres_url: str) -> None:
    opener = Opener(postgres_url)
    pool = Connections(opener, size=3)
    try:
        rows = await asyncio.gather(*(pool.fetch("SELECT $1::int", n) for n in range(50)))
        assert [row[0][0] for row in rows] == list(range(50))
        assert opener.opened <= 3
        backends = await pool.fetch(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        )
        assert backends[0][0] == opener.opened
    finally:
        await pool.close()


async def test_a_connection_whose_block_raised_is_closed_and_replaced(postgres_url: str) -> None:
    opener = Opener(postgres_url)
    pool = Connections(opener, size=1)
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT * FROM nowhere")
        assert conn.is_closed()
        assert (await pool.fetch("SELECT 1"))[0][0] == 1
        assert opener.opened == 2
    finally:
        await pool.close()


@pytest.mark.parametrize("handed_over", [False, True])
async def test_a_cancelled_waiter_loses_no_connection(postgres_url: str, handed_over: bool) -> None:
    opener = Opener(postgres_url)
    pool = Connections(opener, size=1)
    try:
        async with pool.acquire():
            waiting = asyncio.ensure_future(pool.fetch("SELECT 1"))
            await asyncio.sleep(0)
            if not handed_over:
                waiting.cancel()
        if handed_over:
            # The block's end handed the waiter the connection; it has not run since.
            waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert (await pool.fetch("SELECT 2"))[0][0] == 2
        assert opener.opened == 1
    finally:
        await pool.close()


async def test_a_failed_open_lets_a_waiting_task_open_its_own(postgres_url: str) -> None:
    opener = Opener(postgres_url)
    opener.fail = 1
    pool = Connections(opener, size=1)
    try:
        first, second = await asyncio.gather(
            pool.fetch("SELECT 1"), pool.fetch("SELECT 2"), return_exceptions=True
        )
        assert isinstance(first, OSError)
        assert isinstance(second, list) and second[0][0] == 2
    finally:
        await pool.close()


async def test_a_connection_lent_at_close_is_closed_when_it_comes_back(postgres_url: str) -> None:
    pool = Connections(Opener(postgres_url), size=2)
    async with pool.acquire() as lent:
        await pool.close()
        await lent.fetch("SELECT 1")
    assert lent.is_closed()
    with pytest.raises(asyncpg.InterfaceError):
        await pool.fetch("SELECT 1")
