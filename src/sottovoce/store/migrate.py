"""Bring a database to the newest schema; run on every start, so it must be idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from sottovoce.store.engines import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: nodes of one cluster starting together take turns at migrating.
_PG_MIGRATION_LOCK = 0x50770_0001


async def upgrade_to_head(database: Database) -> None:
    async with database.writing() as conn:
        if database.dialect == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        await conn.run_sync(_upgrade)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
