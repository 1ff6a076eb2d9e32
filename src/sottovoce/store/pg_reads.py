"""The reads of every connect and resume (``store/reads.py``) on PostgreSQL's plain connections.

Through SQLAlchemy each of these reads cost three round trips (the adapter's ``BEGIN``, the
query, ``ROLLBACK`` when the connection went back to its pool) plus a statement build, a
compilation-cache lookup and row processing, and a reconnect storm is made of little else. Here
each statement is compiled once, prepared once per connection (asyncpg's statement cache) and run
in autocommit: one round trip, no transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.dialects.postgresql.base import PGDialect

from sottovoce.store.pg_pool import Connections
from sottovoce.store.reads import Read

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Compiled:
    read: Read[Any]
    text: str
    # Bind parameter names in ``$n`` order, and the values SQLAlchemy made for the statement's
    # own constants.
    names: tuple[str, ...]
    constants: dict[str, Any]


# By the read's identity: reads are module constants, and each entry keeps its read alive.
_compiled: dict[int, _Compiled] = {}
# asyncpg's own ``$n`` placeholders; the class is untyped in SQLAlchemy.
_DIALECT = PGDialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]


def _compile(read: Read[Any]) -> _Compiled:
    found = _compiled.get(id(read))
    if found is None:
        compiled = read.statement.compile(dialect=_DIALECT)
        constants = {k: v for k, v in compiled.params.items() if v is not None}
        found = _Compiled(read, str(compiled), tuple(compiled.positiontup or ()), constants)
        _compiled[id(read)] = found
    return found


async def fetch(pool: Connections, read: Read[T], params: dict[str, Any]) -> list[T]:
    compiled = _compile(read)
    values = compiled.constants | params
    rows = await pool.fetch(compiled.text, *(values[name] for name in compiled.names))
    return [read.record(row) for row in rows]
