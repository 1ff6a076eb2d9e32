"""The two servers every scenario runs against: the bare relay and Sottovoce.

A scenario only asks a target for a ``BenchRoom`` (where to connect, and one token per member)
and connects through ``bench.wsconn``; what differs between the two lives here.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.api import Api, Session, register_many
from bench.servers import ServerProcess, free_port, python_module

# Every scenario's rooms are made from this one pool, registered once per run.
POOL_SIZE = 100
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
# One generator process stands for thousands of users behind one IP address: the per-IP HTTP
# limits would measure the limiter, so they are raised (documented in docs/performance.md).
BENCH_LIMITS = ("--auth-rate-limit", "1000000", "--http-rate-limit", "1000000")


@dataclass(frozen=True, slots=True)
class BenchRoom:
    room_id: str
    url: str
    # One entry per member, in member order; None where the target needs no authentication.
    tokens: list[str | None]
    # The server's CPU time so far, for the cost per delivery (None: not measured).
    server_cpu: Callable[[], float] | None = None


class RelayTarget:
    """The bare picows relay of bench/relay.py (or another relay module, to compare servers)."""

    name = "baseline"
    label = "baseline"
    durable = False

    def __init__(self, results: Path, module: str = "bench.relay") -> None:
        self.port = free_port()
        self.server = ServerProcess(
            python_module(module, "--port", str(self.port)),
            results / "logs" / f"{module.removeprefix('bench.')}.log",
        )

    async def start(self) -> None:
        await self.server.start(self.port)

    async def stop(self) -> None:
        await self.server.stop()

    async def room(self, name: str, size: int) -> BenchRoom:
        url = f"ws://127.0.0.1:{self.port}/{name}"
        return BenchRoom(name, url, [None] * size, self.server.cpu_seconds)

    def tokens(self, count: int) -> list[str | None]:
        return [None] * count

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/idle"


class SottovoceTarget:
    """``python -m sottovoce serve`` on SQLite or a fresh PostgreSQL database."""

    name = "sottovoce"
    durable = True

    def __init__(
        self,
        results: Path,
        engine: str,
        sotto: list[str],
        extra_args: list[str],
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.engine = engine
        self.pool_size = pool_size
        self.label = f"sottovoce-{engine}"
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"sotto-bench-{engine}-"))
        self.pg_database = f"sotto_bench_{secrets.token_hex(6)}" if engine == "postgresql" else ""
        argv = [*sotto, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--data-dir", str(self.data_dir), "--registration", "open", *BENCH_LIMITS]
        if self.pg_database:
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.pg_database}"
            argv += ["--database-url", url]
        # SQLite is the server's default: its database file lives in the data directory.
        self._argv = [*argv, *extra_args]
        self.server = ServerProcess(self._argv, results / "logs" / f"sottovoce-{engine}.log")
        self.api = Api(f"http://127.0.0.1:{self.port}")
        self.pool: list[Session] = []
        self.registration_seconds = 0.0
        self._rooms: dict[str, str] = {}

    async def start(self) -> None:
        if self.pg_database:
            await _pg_admin(f'CREATE DATABASE "{self.pg_database}"')
        await self.server.start(self.port)
        started = time.monotonic()
        self.pool = await register_many(self.api, "bench", self.pool_size)
        self.registration_seconds = time.monotonic() - started

    async def restart(self, extra_args: Sequence[str]) -> None:
        """The same server, database and data directory (so the same users, sessions and
        rooms), started again with ``extra_args`` added."""
        await self.server.stop()
        self.server = ServerProcess([*self._argv, *extra_args], self.server.log_path)
        await self.server.start(self.port)

    async def stop(self) -> None:
        await self.api.close()
        await self.server.stop()
        if self.pg_database:
            await _pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_database}" WITH (FORCE)')
        shutil.rmtree(self.data_dir, ignore_errors=True)

    async def refresh_sessions(self, older_than: float = 600.0) -> None:
        """Access tokens live 15 minutes; a full run is longer, so renew them between scenarios."""
        now = time.monotonic()
        self.pool = list(
            await asyncio.gather(
                *(
                    self.api.refresh(s) if now - s.issued_at > older_than else _same(s)
                    for s in self.pool
                )
            )
        )

    async def room(self, name: str, size: int) -> BenchRoom:
        if name not in self._rooms:
            owner, *members = self.pool[:size]
            self._rooms[name] = await self.api.create_room(owner, name, members)
        return BenchRoom(self._rooms[name], self.ws_url, self.tokens(size), self.server.cpu_seconds)

    def tokens(self, count: int) -> list[str | None]:
        """``count`` tokens, spread over the pool: several connections share each device."""
        return [self.pool[i % len(self.pool)].access_token for i in range(count)]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/v1/ws"


Target = RelayTarget | SottovoceTarget


async def _same(session: Session) -> Session:
    return session


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
