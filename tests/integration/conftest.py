"""Fixtures that run the real server: ``server`` (SQLite), ``server_pg`` and ``any_server`` (both).

The ``shared_*`` variants live for a whole module: use them where tests cannot disturb each other
(every test makes its own people and rooms); they keep the suite fast.

These servers accept only MLS message bodies, as in production. Tests of the transport that send
arbitrary bodies say so with the ``plaintext`` marker (``pytestmark = pytest.mark.plaintext`` for
a module): their servers then run with ``--allow-plaintext``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sottovoce.store import Store, open_store
from tests.conftest import _pg_admin, unavailable
from tests.integration.harness import Person, ServerProcess, new_person, sqlite_url

ENGINES = ["sqlite", "postgres"]
PLAINTEXT = "plaintext"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{PLAINTEXT}: the test's servers store non-MLS bodies (--allow-plaintext)"
    )


def plaintext(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test (or, for a module-scoped server, module) opted out of MLS."""
    return request.node.get_closest_marker(PLAINTEXT) is not None


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each engine, for tests of the store without a server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await open_store(database_url)
    yield opened
    await opened.close()


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
def engine_server(engine: str, data_dir: Path, *, plaintext: bool) -> Iterator[ServerProcess]:
    if engine == "sqlite":
        process = ServerProcess(data_dir, sqlite_url(data_dir), plaintext=plaintext)
        with running(process) as server:
            yield server
    else:
        with (
            postgres_database() as url,
            running(ServerProcess(data_dir, url, plaintext=plaintext)) as server,
        ):
            yield server


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server on SQLite, for tests that stop, kill or reconfigure it."""
    data = tmp_path / "data"
    with running(ServerProcess(data, sqlite_url(data), plaintext=plaintext(request))) as proc:
        yield proc


@pytest.fixture
def server_pg(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[ServerProcess]:
    data = tmp_path / "data"
    with running(ServerProcess(data, postgres_url, plaintext=plaintext(request))) as proc:
        yield proc


@pytest.fixture(params=ENGINES)
def any_server(request: pytest.FixtureRequest) -> ServerProcess:
    name = "server" if request.param == "sqlite" else "server_pg"
    proc: ServerProcess = request.getfixturevalue(name)
    return proc


@pytest.fixture(scope="module")
def shared_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("shared")
    with engine_server("sqlite", data, plaintext=plaintext(request)) as proc:
        yield proc


@pytest.fixture(scope="module", params=ENGINES)
def shared_any_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp(request.param)
    with engine_server(request.param, data, plaintext=plaintext(request)) as proc:
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
