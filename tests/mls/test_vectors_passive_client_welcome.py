"""passive-client-welcome.json: join from each Welcome and reach the same epoch authenticator."""

from __future__ import annotations

from tests.mls.passive_client import run_file


def test_passive_client_joins_from_every_welcome() -> None:
    run_file("passive-client-welcome.json")
