"""Fixtures for the ts-mls interop tests: one driver process and one matrix per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import unavailable
from tests.interop.matrix import Matrix
from tests.interop.ts_driver import TsMls, missing_requirement


@pytest.fixture(scope="session")
def ts_mls_process() -> Iterator[TsMls]:
    reason = missing_requirement()
    if reason is not None:
        unavailable("ts-mls (Node.js driver)", reason)
    with TsMls() as driver:
        yield driver


@pytest.fixture
def ts_mls(ts_mls_process: TsMls) -> TsMls:
    """The shared driver with no members left over from earlier tests."""
    ts_mls_process.call("reset")
    return ts_mls_process


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    recorded = Matrix()
    yield recorded
    # Shown with `pytest -s`: which operations crossed between the libraries, in which direction.
    print(recorded.render())
