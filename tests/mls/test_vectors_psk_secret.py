"""psk_secret.json: chaining external PSKs into psk_secret (RFC 9420 section 8.4)."""

from __future__ import annotations

from typing import Any

from sottovoce.mls._proposals import PreSharedKeyID, PSKType
from sottovoce.mls._psk import psk_secret
from sottovoce.mls._suite import get_suite

from .vectors import hexb, load, split_by_suite, summary

FILE = "psk_secret.json"
SUITE = get_suite(1)


def external_psks(case: dict[str, Any]) -> list[tuple[PreSharedKeyID, bytes]]:
    return [
        (
            PreSharedKeyID(
                PSKType.EXTERNAL, psk_id=hexb(p["psk_id"]), psk_nonce=hexb(p["psk_nonce"])
            ),
            hexb(p["psk"]),
        )
        for p in case["psks"]
    ]


def test_psk_secret_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    assert any(len(case["psks"]) > 1 for case in cases), "no case chains several PSKs"
    for index, case in enumerate(cases):
        suite = get_suite(case["cipher_suite"])
        assert psk_secret(suite, external_psks(case)) == hexb(case["psk_secret"]), index
    print(summary(FILE, len(cases), skipped))


def test_no_psks_give_the_zero_secret() -> None:
    assert psk_secret(SUITE, []) == bytes(SUITE.hash_len)


def test_psk_order_matters() -> None:
    a = (PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"a", psk_nonce=bytes(32)), b"\x01" * 32)
    b = (PreSharedKeyID(PSKType.EXTERNAL, psk_id=b"b", psk_nonce=bytes(32)), b"\x02" * 32)
    assert psk_secret(SUITE, [a, b]) != psk_secret(SUITE, [b, a])
