"""Database connections: engine setup per backend, and how transactions are opened.

SQLite: WAL mode with ``synchronous=FULL``. In WAL mode ``NORMAL`` already survives a SIGKILL
(a commit has reached the OS before it returns) but can lose the last commits on power loss or an
OS crash; ``FULL`` syncs the WAL on each commit, so an acknowledged send survives both. Group
commit, not a weaker sync, is how append throughput is meant to scale.

Writers are serialized in the process by a lock around one dedicated connection that opens its
transactions with ``BEGIN IMMEDIATE``: a deferred transaction that reads before writing can fail
with SQLITE_BUSY instead of waiting; ``busy_timeout`` covers other processes (``sotto admin``).
Readers use their own small pool and run each read as one autocommitted statement.

PostgreSQL: one asyncpg pool; writers on the same row serialize on its row lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)
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
        if self.dialect == "sqlite":
            self._reader = _sqlite_engine(url, begin=None, pool_size=4)
            self._writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            self._write_lock = asyncio.Lock()
        else:
            self._reader = self._writer = create_async_engine(url, pool_size=5, max_overflow=5)
            self._write_lock = nullcontext()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed on exit, rolled back on an exception."""
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self._reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self._reader.dispose()
        if self._writer is not self._reader:
            await self._writer.dispose()


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
