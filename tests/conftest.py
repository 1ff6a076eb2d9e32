"""Shared test policy: a missing service or vector set skips locally and fails under CI=true."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, hint: str) -> None:
    """Skip the test with a hint, or fail it under CI where everything must be present."""
    message = f"{what} is not available: {hint}"
    if IN_CI:
        pytest.fail(message + " (CI=true: missing services are failures)")
    pytest.skip(message)


def mls_vectors_dir() -> Path:
    configured = os.environ.get("MLS_TEST_VECTORS")
    return Path(configured) if configured else ROOT.parent / "shared" / "mls-test-vectors"


PG_ADMIN_DSN = os.environ.get("SOTTO_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, as an SQLAlchemy asyncpg URL."""
    name = f"sotto_test_{secrets.token_hex(6)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", f"start it ({exc})")
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> str:
    """Redis on loopback, checked to answer; tests use their own key prefix."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                raise OSError("unexpected reply")
    except OSError as exc:
        unavailable("Redis on 127.0.0.1:6379", f"start it ({exc})")
    return "redis://127.0.0.1:6379/0"
