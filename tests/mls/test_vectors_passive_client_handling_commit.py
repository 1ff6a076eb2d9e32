"""passive-client-handling-commit.json: join, then follow every commit (with and without
path, by value and by reference, PSKs, extensions) to the same epoch authenticators."""

from __future__ import annotations

from tests.mls.passive_client import run_file


def test_passive_client_follows_every_commit() -> None:
    run_file("passive-client-handling-commit.json")
