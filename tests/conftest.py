"""Shared test policy: a missing service or vector set skips locally and fails under CI=true."""

from __future__ import annotations

import os
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
