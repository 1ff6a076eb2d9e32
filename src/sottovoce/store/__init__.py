"""Persistence: the ``Store`` contract (base.py) and its SQL implementation (sql.py)."""

from __future__ import annotations

from sottovoce.store.base import Store
from sottovoce.store.engines import Database
from sottovoce.store.migrate import upgrade_to_head
from sottovoce.store.sql import SqlStore

__all__ = ["SqlStore", "Store", "open_store"]


async def open_store(database_url: str) -> Store:
    """Connect, apply every pending migration, and return the store.

    ``database_url`` is ``sqlite+aiosqlite:///path/file.db`` or
    ``postgresql+asyncpg://user@host/db`` (plain ``sqlite://`` / ``postgresql://`` work too).
    """
    database = Database(database_url)
    try:
        await database.prepare()
        await upgrade_to_head(database)
    except BaseException:
        await database.dispose()
        raise
    return SqlStore(database)
