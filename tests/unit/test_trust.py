from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client.e2ee_errors import StaleSafetyNumber, UnknownContact
from sottovoce.client.identity import DeviceKeys, IdentityKeyPair, credential_validator
from sottovoce.client.keysources import Argon2Params, PassphraseKey
from sottovoce.client.keystore import Keystore
from sottovoce.client.trust import (
    SAFETY_NUMBER_ITERATIONS,
    SAFETY_NUMBER_VERSION,
    IdentityKeyChanged,
    TrustBook,
    TrustStatus,
    safety_number,
)

ALICE = "@alice:example.org"
BOB = "@bob:example.org"
KEY_1, KEY_2, KEY_3 = (bytes([i]) * 32 for i in (1, 2, 3))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book(tmp_path: Path, clock: Clock) -> Iterator[TrustBook]:
    source = PassphraseKey("trust tests", Argon2Params(1, 1024, 1))
    with Keystore.create(tmp_path / "store.db", source) as store:
        yield TrustBook(store, clock)


def test_the_first_key_seen_is_trusted_without_a_warning(book: TrustBook) -> None:
    assert book.observe(BOB, KEY_1) is None
    record = book.record(BOB)
    assert record is not None
    assert (record.identity_key, record.status, record.first_seen) == (
        KEY_1,
        TrustStatus.UNVERIFIED,
        1_000,
    )
    assert book.identity_key(BOB) == KEY_1


def test_seeing_the_same_key_again_changes_nothing(book: TrustBook, clock: Clock) -> None:
    book.observe(BOB, KEY_1)
    clock.now = 2_000
    assert book.observe(BOB, KEY_1) is None
    assert book.warnings() == []
    record = book.record(BOB)
    assert record is not None and record.first_seen == 1_000


def test_a_changed_key_raises_a_warning_with_both_keys(book: TrustBook, clock: Clock) -> None:
    book.observe(BOB, KEY_1)
    clock.now = 5_000
    warning = book.observe(BOB, KEY_2)
    assert warning == IdentityKeyChanged(BOB, KEY_1, KEY_2, 5_000, was_verified=False)
    assert BOB in str(warning) and "changed" in str(warning)
    assert book.identity_key(BOB) == KEY_2
    record = book.record(BOB)
    assert record is not None and record.status == TrustStatus.CHANGED


def test_the_warning_stays_until_acknowledged(book: TrustBook) -> None:
    book.observe(BOB, KEY_1)
    book.observe(BOB, KEY_2)
    assert book.observe(BOB, KEY_2) is None  # no second warning for the same change
    assert [w.new_key for w in book.warnings()] == [KEY_2]
    book.acknowledge(BOB)
    assert book.warnings() == []
    record = book.record(BOB)
    assert record is not None and record.status == TrustStatus.UNVERIFIED


def test_a_key_change_of_a_verified_contact_drops_the_verification(book: TrustBook) -> None:
    book.observe(BOB, KEY_1)
    book.mark_verified(BOB, KEY_1)
    record = book.record(BOB)
    assert record is not None and record.status == TrustStatus.VERIFIED
    warning = book.observe(BOB, KEY_2)
    assert warning is not None and warning.was_verified
    record = book.record(BOB)
    assert record is not None and not record.verified


def test_verification_applies_only_to_the_key_that_was_compared(book: TrustBook) -> None:
    book.observe(BOB, KEY_1)
    book.observe(BOB, KEY_2)
    with pytest.raises(StaleSafetyNumber):
        book.mark_verified(BOB, KEY_1)
    book.mark_verified(BOB, KEY_2)
    record = book.record(BOB)
    assert record is not None and record.status == TrustStatus.VERIFIED
    assert book.warnings() == []


def test_an_unknown_contact_cannot_be_verified(book: TrustBook) -> None:
    with pytest.raises(UnknownContact):
        book.mark_verified(BOB, KEY_1)
    with pytest.raises(UnknownContact):
        book.acknowledge(BOB)


def test_the_trust_book_feeds_the_groups_credential_check(book: TrustBook) -> None:
    bob = IdentityKeyPair.generate()
    keys = DeviceKeys.create(bob, BOB, "BBBBBBBBBBBB")
    validate = credential_validator(book.identity_key)
    signature_key = keys.certificate.device_signature_key
    assert not validate(keys.credential, signature_key)  # unknown user
    book.observe(BOB, bob.public)
    assert validate(keys.credential, signature_key)
    book.observe(BOB, IdentityKeyPair.generate().public)
    assert not validate(keys.credential, signature_key)


# -- safety numbers ---------------------------------------------------------------------------


def test_both_sides_compute_the_same_safety_number() -> None:
    alice_view = safety_number(ALICE, KEY_1, BOB, KEY_2)
    bob_view = safety_number(BOB, KEY_2, ALICE, KEY_1)
    assert alice_view == bob_view
    assert re.fullmatch(r"\d{5}( \d{5}){11}", alice_view)


def test_a_safety_number_changes_with_either_key_or_user() -> None:
    base = safety_number(ALICE, KEY_1, BOB, KEY_2)
    variants = {
        safety_number(ALICE, KEY_3, BOB, KEY_2),
        safety_number(ALICE, KEY_1, BOB, KEY_3),
        safety_number("@carol:example.org", KEY_1, BOB, KEY_2),
        safety_number(ALICE, KEY_2, BOB, KEY_1),
    }
    assert base not in variants and len(variants) == 4


def reference_half(user_id: str, key: bytes) -> str:
    """Signal's numeric fingerprint with our version string, written independently (hashlib)."""
    digest = hashlib.sha512(SAFETY_NUMBER_VERSION + key + user_id.encode()).digest()
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        digest = hashlib.sha512(digest + key).digest()
    return "".join(
        f"{int.from_bytes(digest[i : i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5)
    )


@settings(max_examples=5, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_the_safety_number_follows_the_documented_construction(a: bytes, b: bytes) -> None:
    halves = sorted((reference_half(ALICE, a), reference_half(BOB, b)))
    expected = "".join(halves)
    assert safety_number(ALICE, a, BOB, b).replace(" ", "") == expected


def test_the_safety_number_of_fixed_keys_is_stable() -> None:
    # Pinned so that a change of the construction is a visible, deliberate break.
    assert safety_number(ALICE, KEY_1, BOB, KEY_2) == (
        "23374 05473 89315 75596 21848 13956 85770 72175 71615 31651 67159 79101"
    )
