"""SQLite's writer thread (``engines.SqliteWriter``) on a real database file: every caller gets its
transaction's outcome, whatever happened, including at close and when it was cancelled."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sottovoce.store.engines import SqliteWriter, enable_wal


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[SqliteWriter]:
    # As open_store does before anything else opens the file.
    enable_wal(str(tmp_path / "db.sqlite"))
    opened = SqliteWriter(str(tmp_path / "db.sqlite"))
    await opened.run(lambda conn: conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    yield opened
    await opened.close()


def _insert(n: int) -> Callable[[sqlite3.Connection], int]:
    return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)).rowcount


def _count(conn: sqlite3.Connection) -> int:
    count: int = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    return count


async def test_the_writer_syncs_every_commit_and_checkpoints_every_4000_pages(
    writer: SqliteWriter,
) -> None:
    def settings(conn: sqlite3.Connection) -> list[object]:
        pragmas = ("journal_mode", "synchronous", "wal_autocheckpoint")
        return [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in pragmas]

    # synchronous 2 is FULL: the WAL is synced before a commit returns.
    assert await writer.run(settings) == ["wal", 2, 4000]


async def test_a_failed_transaction_reaches_its_caller_and_is_rolled_back(
    writer: SqliteWriter,
) -> None:
    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(sqlite3.IntegrityError):
        await writer.run(insert_then_fail)
    assert await writer.run(_count) == 0
    assert await writer.run(_insert(1)) == 1


async def test_calls_queued_before_close_all_commit_and_later_ones_are_refused(
    tmp_path: Path,
) -> None:
    writer = SqliteWriter(str(tmp_path / "db.sqlite"))
    await writer.run(lambda conn: conn.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
    pending = [asyncio.ensure_future(writer.run(_insert(n))) for n in range(50)]
    # Let every call reach the thread's queue, then close behind them.
    await asyncio.sleep(0)
    await writer.close()
    assert [await call for call in pending] == [1] * 50
    with pytest.raises(RuntimeError):
        await writer.run(_count)
    await writer.close()
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    try:
        assert _count(conn) == 50
    finally:
        conn.close()


async def test_a_cancelled_caller_returns_only_once_its_transaction_has_ended(
    writer: SqliteWriter,
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_insert(conn: sqlite3.Connection) -> None:
        started.set()
        # Bounded: the test fails rather than hangs if it is never released.
        assert release.wait(10)
        conn.execute("INSERT INTO t VALUES (7)")

    call = asyncio.ensure_future(writer.run(slow_insert))
    assert await asyncio.to_thread(started.wait, 10)
    call.cancel()
    await asyncio.sleep(0.05)
    # The caller (in the store, the holder of the write lock) is still waiting for the thread.
    assert not call.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await writer.run(_count) == 1


async def test_a_database_that_cannot_be_opened_fails_the_call_instead_of_hanging(
    tmp_path: Path,
) -> None:
    writer = SqliteWriter(str(tmp_path / "missing" / "db.sqlite"))
    with pytest.raises(sqlite3.OperationalError):
        await writer.run(_count)
    await writer.close()
