"""Fixtures for the ts-mls interop tests: a driver process per test, one matrix per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import unavailable
from tests.interop.matrix import Matrix
from tests.interop.ts_driver import TsMls, missing_requirement


@pytest.fixture
def ts_mls() -> Iterator[TsMls]:
    reason = missing_requirement()
    if reason is not None:
        unavailable("ts-mls (Node.js driver)", reason)
    with TsMls() as driver:
        yield driver


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    recorded = Matrix()
    yield recorded
    # Shown with `pytest -s`: which operations crossed between the libraries, in which direction.
    print(recorded.render())
