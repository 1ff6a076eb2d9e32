"""Loader for the official MLS test vectors (mlswg/mls-implementations, test-vectors/)."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import mls_vectors_dir, unavailable

SUITE = 1
SUITE_NAME = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"


def load(name: str) -> list[dict[str, Any]]:
    """All entries of one vector file, e.g. ``load("crypto-basics.json")``."""
    path = mls_vectors_dir() / name
    if not path.is_file():
        unavailable(
            f"MLS test vector file {path}",
            "set MLS_TEST_VECTORS to a checkout of "
            "https://github.com/mlswg/mls-implementations/tree/main/test-vectors",
        )
    with path.open(encoding="utf-8") as f:
        entries: list[dict[str, Any]] = json.load(f)
    return entries


def split_by_suite(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The suite-1 entries, and the suite ids of the entries skipped as other suites."""
    ours = [e for e in entries if e["cipher_suite"] == SUITE]
    others = [e["cipher_suite"] for e in entries if e["cipher_suite"] != SUITE]
    return ours, others


def summary(name: str, passed: int, skipped_suites: list[int]) -> str:
    suites = ", ".join(str(s) for s in sorted(set(skipped_suites))) or "none"
    return (
        f"{name}: {passed} suite-{SUITE} cases passed, {len(skipped_suites)} skipped "
        f"(other suites: {suites}; only {SUITE_NAME} is implemented)"
    )


def hexb(s: str) -> bytes:
    return bytes.fromhex(s)
