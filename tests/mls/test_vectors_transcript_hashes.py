"""transcript-hashes.json: confirmed and interim transcript hashes, and the confirmation tag."""

from __future__ import annotations

from typing import Any

from sottovoce.mls._codec import decode_all
from sottovoce.mls._framing_structs import AuthenticatedContent, ContentType
from sottovoce.mls._suite import CipherSuite, get_suite
from sottovoce.mls._transcript import (
    confirmation_tag_is_valid,
    confirmed_transcript_hash,
    interim_transcript_hash,
)

from .vectors import hexb, load, split_by_suite, summary

FILE = "transcript-hashes.json"


def check_case(suite: CipherSuite, case: dict[str, Any]) -> None:
    commit = decode_all(hexb(case["authenticated_content"]), AuthenticatedContent.decode)
    assert commit.content.content_type is ContentType.COMMIT
    tag = commit.auth.confirmation_tag
    assert tag is not None, "a commit carries a confirmation tag"

    confirmed = confirmed_transcript_hash(
        suite, hexb(case["interim_transcript_hash_before"]), commit
    )
    assert confirmed == hexb(case["confirmed_transcript_hash_after"]), "confirmed hash"
    assert confirmation_tag_is_valid(suite, hexb(case["confirmation_key"]), confirmed, tag), (
        "confirmation tag"
    )
    interim = interim_transcript_hash(suite, confirmed, tag)
    assert interim == hexb(case["interim_transcript_hash_after"]), "interim hash"


def test_transcript_hash_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    for case in cases:
        check_case(get_suite(case["cipher_suite"]), case)
    print(summary(FILE, len(cases), skipped))


def test_confirmation_tag_under_another_key_is_invalid() -> None:
    suite = get_suite(1)
    for case in split_by_suite(load(FILE))[0]:
        commit = decode_all(hexb(case["authenticated_content"]), AuthenticatedContent.decode)
        assert commit.auth.confirmation_tag is not None
        confirmed = hexb(case["confirmed_transcript_hash_after"])
        wrong_key = bytes(suite.hash_len)
        assert not confirmation_tag_is_valid(
            suite, wrong_key, confirmed, commit.auth.confirmation_tag
        )
