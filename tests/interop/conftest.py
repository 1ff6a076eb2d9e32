"""Fixtures for the ts-mls interop tests: one driver process and one matrix per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import unavailable
from tests.interop.matrix import Matrix
from tests.interop.ts_driver import TsMls, missing_requirement


class _SharedDriver:
    """One driver process for the session, replaced if a test brought it down."""

    def __init__(self) -> None:
        self._driver: TsMls | None = None

    def get(self) -> TsMls:
        if self._driver is None or not self._driver.alive:
            self._driver = TsMls()
        self._driver.call("reset")
        return self._driver

    def close(self) -> None:
        if self._driver is not None and self._driver.alive:
            self._driver.close()


@pytest.fixture(scope="session")
def shared_driver() -> Iterator[_SharedDriver]:
    shared = _SharedDriver()
    yield shared
    shared.close()


@pytest.fixture
def ts_mls(shared_driver: _SharedDriver) -> TsMls:
    """A running driver with no members left over from earlier tests."""
    reason = missing_requirement()
    if reason is not None:
        unavailable("ts-mls (Node.js driver)", reason)
    return shared_driver.get()


@pytest.fixture(scope="session")
def matrix() -> Iterator[Matrix]:
    recorded = Matrix()
    yield recorded
    # Shown with `pytest -s`: which operations crossed between the libraries, in which direction.
    print(recorded.render())
