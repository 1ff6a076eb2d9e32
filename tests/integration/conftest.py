"""Fixtures that run the real server: ``server`` (SQLite), ``server_pg`` and ``any_server`` (both).

The ``shared_*`` variants live for a whole module: use them where tests cannot disturb each other
(every test makes its own people and rooms); they keep the suite fast.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import _pg_admin, unavailable
from tests.integration.harness import Person, ServerProcess, new_person, sqlite_url

ENGINES = ["sqlite", "postgres"]


@contextmanager
def running(server: ServerProcess) -> Iterator[ServerProcess]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database for a module-scoped server (``postgres_url`` lives for one test only)."""
    name = f"sotto_it_{secrets.token_hex(6)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", f"start it ({exc})")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def engine_server(engine: str, data_dir: Path) -> Iterator[ServerProcess]:
    if engine == "sqlite":
        with running(ServerProcess(data_dir, sqlite_url(data_dir))) as server:
            yield server
    else:
        with postgres_database() as url, running(ServerProcess(data_dir, url)) as server:
            yield server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server on SQLite, for tests that stop, kill or reconfigure it."""
    with running(ServerProcess(tmp_path / "data", sqlite_url(tmp_path / "data"))) as proc:
        yield proc


@pytest.fixture
def server_pg(tmp_path: Path, postgres_url: str) -> Iterator[ServerProcess]:
    with running(ServerProcess(tmp_path / "data", postgres_url)) as proc:
        yield proc


@pytest.fixture(params=ENGINES)
def any_server(request: pytest.FixtureRequest) -> ServerProcess:
    name = "server" if request.param == "sqlite" else "server_pg"
    proc: ServerProcess = request.getfixturevalue(name)
    return proc


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with engine_server("sqlite", tmp_path_factory.mktemp("shared")) as proc:
        yield proc


@pytest.fixture(scope="module", params=ENGINES)
def shared_any_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    with engine_server(request.param, tmp_path_factory.mktemp(request.param)) as proc:
        yield proc


PersonFactory = Callable[..., Awaitable[Person]]


@pytest.fixture
async def people() -> AsyncIterator[PersonFactory]:
    """``await people(server, username=None)`` registers someone; all are closed at teardown."""
    made: list[Person] = []

    async def make(server: ServerProcess, username: str | None = None) -> Person:
        person = await new_person(server, username)
        made.append(person)
        return person

    yield make
    for person in made:
        await person.close()
