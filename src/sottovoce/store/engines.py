"""Database connections: engine setup per backend, and how transactions are opened.

SQLite: WAL mode with ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a SIGKILL
(a commit has reached the OS before it returns) but can lose the last commits on power loss or an
OS crash; ``FULL`` syncs the WAL on each commit, so an acknowledged send survives both. Group
commit, not a weaker sync, is how append throughput is meant to scale.

Writers are serialized in the process by a lock around one dedicated connection that opens its
transactions with ``BEGIN IMMEDIATE``: a deferred transaction that reads before writing can fail
with SQLITE_BUSY instead of waiting; ``busy_timeout`` covers other processes (``sotto admin``).
Readers use their own small pool and run each read as one autocommitted statement. The hottest
write, a batch of message appends, skips SQLAlchemy and aiosqlite: ``SqliteWriter`` runs it as one
call on a plain ``sqlite3`` connection in a thread of its own, under the same lock
(``store/sqlite_appends.py`` says why). Likewise the reads of every connect and resume run on a
plain connection on the event loop's thread (``sqlite_reader``, ``store/reads.py``).

PostgreSQL: writers on the same row serialize on its row lock. SQLAlchemy's pool serves the
general path; the hot paths (message appends, ``store/pg_appends.py``, and the reads of every
connect and resume, ``store/pg_reads.py``) run on a few plain asyncpg connections of their own
(``Database.pg``, ``store/pg_pool.py``) with statements prepared once per connection: one round
trip a read, no ``BEGIN``/``ROLLBACK`` around it, no statement building.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from sottovoce.store.pg_pool import Connections

# Per connection; the journal mode is the file's own, set once by ``enable_wal``.
_SQLITE_PRAGMAS = (
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
    # A checkpoint after 4,000 WAL pages (16 MiB of WAL at 4 KiB pages) rather than SQLite's
    # 1,000: a page written by several commits in between is copied to the database once, and
    # checkpoints (each with its two fsyncs) come a quarter as often. The writer thread's CPU per
    # message fell ~6 % and its bytes written 12 % (docs/performance.md).
    "PRAGMA wal_autocheckpoint=4000",
)
T = TypeVar("T")
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


def normalize_url(database_url: str) -> URL:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    url = make_url(database_url)
    url = url.set(drivername=_DRIVERS.get(url.drivername, url.drivername))
    if url.drivername not in _DRIVERS.values():
        raise ValueError(
            f"unsupported database URL scheme {url.drivername!r}: "
            "use sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
        )
    if url.drivername.startswith("sqlite") and url.database in (None, "", ":memory:"):
        raise ValueError("SQLite needs a database file path: sqlite+aiosqlite:///path/to/file.db")
    return url


class Database:
    """The engines of one database and the two ways to use them: ``reading`` and ``writing``."""

    def __init__(self, database_url: str) -> None:
        url = normalize_url(database_url)
        self.dialect = url.get_backend_name()
        self._write_lock: AbstractAsyncContextManager[object]
        self.sqlite: SqliteWriter | None = None
        self._sqlite_path: str | None = None
        self._sqlite_reader: sqlite3.Connection | None = None
        self.pg: Connections | None = None
        if self.dialect == "sqlite":
            self._reader = _sqlite_engine(url, begin=None, pool_size=4)
            self._writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self._write_lock = asyncio.Lock()
            # normalize_url refuses an SQLite URL without a file path.
            self._sqlite_path = str(url.database)
            self.sqlite = SqliteWriter(self._sqlite_path)
        else:
            self._reader = self._writer = create_async_engine(url, pool_size=5, max_overflow=5)
            self._write_lock = nullcontext()
            _, options = self._writer.dialect.create_connect_args(url)
            # SQLAlchemy's own option for its adapter; asyncpg keeps its statement cache anyway.
            options.pop("prepared_statement_cache_size", None)
            self.pg = Connections(lambda: asyncpg.connect(**options), size=5)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on exit, rolled back on an exception."""
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    async def writing_sqlite(
        self, writer: SqliteWriter, work: Callable[[sqlite3.Connection], T]
    ) -> T:
        """``work`` as one write transaction on SQLite's plain connection (``SqliteWriter``),
        serialized with ``writing``."""
        async with self._write_lock:
            return await writer.run(work)

    async def prepare(self) -> None:
        """On SQLite, put the file in WAL mode (``enable_wal``); nothing to do on PostgreSQL."""
        if self._sqlite_path is not None:
            await asyncio.to_thread(enable_wal, self._sqlite_path)

    def sqlite_reader(self) -> sqlite3.Connection | None:
        """On SQLite, a plain connection for the hot reads (``store/reads.py``), used on the
        event loop's thread only, each statement its own transaction; None on PostgreSQL."""
        if self._sqlite_reader is None and self._sqlite_path is not None:
            self._sqlite_reader = _sqlite_connection(self._sqlite_path)
            self._sqlite_reader.execute("PRAGMA query_only=ON")
        return self._sqlite_reader

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        if self.pg is not None:
            await self.pg.close()
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()
        if self.sqlite is not None:
            await self.sqlite.close()
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
            self._sqlite_reader = None


# What the writer thread is given: the work (None to close), and where to put its outcome.
_Job = tuple[
    Callable[[sqlite3.Connection], Any] | None, asyncio.AbstractEventLoop, asyncio.Future[Any]
]


class SqliteWriter:
    """A plain ``sqlite3`` connection used from one thread of its own, one transaction a call.

    Calls reach the thread through a ``queue.SimpleQueue`` and each result comes back to the loop
    with one ``call_soon_threadsafe``. ``run_in_executor`` did the same with a thread pool's lock
    and work item and two futures chained across the threads: a lone message's store path cost
    172-202 us of CPU that way and 112-175 us this way (docs/performance.md).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` between ``BEGIN IMMEDIATE`` and ``COMMIT`` (rolled back if it raises)."""
        if self._closed:
            raise RuntimeError("the SQLite writer is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            # A daemon: a store never closed must not keep the process alive; an unfinished
            # transaction is rolled back by SQLite, and nothing was acknowledged for it.
            self._thread = threading.Thread(target=self._serve, name="sqlite-writer", daemon=True)
            self._thread.start()
        self._jobs.put((work, loop, done))
        try:
            return await asyncio.shield(done)
        finally:
            # A cancelled caller still holds the write lock until the transaction has ended.
            if not done.done():
                await asyncio.wait({done})

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        while True:
            work, loop, done = self._jobs.get()
            result: object = None
            error: BaseException | None = None
            try:
                if work is None:
                    if conn is not None:
                        conn.close()
                else:
                    if conn is None:
                        conn = _sqlite_connection(self._path)
                    result = _transaction(conn, work)
            # Anything at all goes back to the caller: its future must be resolved.
            except BaseException as exc:
                error = exc
            # A closed loop refuses the call: nobody waits for this any more.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, done, result, error)
            if work is None:
                return

    async def close(self) -> None:
        """Run what was submitted before, then close the connection and end the thread."""
        self._closed = True
        thread, self._thread = self._thread, None
        if thread is None:
            return
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._jobs.put((None, asyncio.get_running_loop(), closed))
        await closed
        # The thread resolved the future as its last act, so this does not block.
        thread.join()


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _resolve(done: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if error is None:
        done.set_result(result)
    else:
        done.set_exception(error)


_WAL_SECONDS = 2.0


def enable_wal(path: str) -> None:
    """Switch the SQLite file to WAL, a mode kept in the file, before any pooled connection opens
    it. Connections switching a new file at once get SQLITE_BUSY at once, without waiting out the
    busy timeout (SQLite's deadlock avoidance): nodes starting together failed that way, so the
    switch is retried, for up to two seconds."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=_WAL_SECONDS)
    deadline = time.monotonic() + _WAL_SECONDS
    try:
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        conn.close()
    if mode != "wal":
        raise RuntimeError(f"SQLite kept {path} in journal mode {mode!r}, not WAL")


def _sqlite_connection(path: str) -> sqlite3.Connection:
    # The driver's own transaction handling off (isolation_level None): BEGIN is ours to issue.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in _SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def _sqlite_engine(url: URL, begin: str | None, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url, poolclass=AsyncAdaptedQueuePool, pool_size=pool_size, max_overflow=0
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: object) -> None:
        # Turn off the driver's own transaction handling so that BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    if begin is not None:
        statement = begin

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql(statement)

    return engine
