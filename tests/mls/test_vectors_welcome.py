"""welcome.json: a joiner decrypts the Welcome, verifies the GroupInfo signature and its
confirmation tag."""

from __future__ import annotations

from typing import Any

import pytest

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._framing_structs import MLSMessage
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._key_schedule import (
    derive_welcome_secret,
    epoch_secrets_from_joiner,
    zero_secret,
)
from sottovoce.mls._suite import get_suite
from sottovoce.mls._transcript import confirmation_tag_is_valid
from sottovoce.mls._welcome import GroupInfo, Welcome, open_group_info, open_group_secrets
from sottovoce.mls.errors import CryptoError
from tests.mls.vectors import hexb, load, split_by_suite, summary

FILE = "welcome.json"


def _decode(entry: dict[str, Any]) -> tuple[KeyPackage, Welcome]:
    key_package = decode_all(hexb(entry["key_package"]), MLSMessage.decode).body
    welcome = decode_all(hexb(entry["welcome"]), MLSMessage.decode).body
    assert isinstance(key_package, KeyPackage)
    assert isinstance(welcome, Welcome)
    return key_package, welcome


def _join(entry: dict[str, Any]) -> tuple[GroupInfo, bytes]:
    """The decrypted GroupInfo and the confirmation key derived from the group secrets."""
    suite = get_suite(entry["cipher_suite"])
    key_package, welcome = _decode(entry)
    secrets = open_group_secrets(suite, welcome, key_package.ref(suite), hexb(entry["init_priv"]))
    assert secrets.psks == ()
    psk_secret = zero_secret(suite)
    welcome_secret = derive_welcome_secret(suite, secrets.joiner_secret, psk_secret)
    group_info = open_group_info(suite, welcome, welcome_secret)
    epoch = epoch_secrets_from_joiner(
        suite, secrets.joiner_secret, psk_secret, serialize(group_info.group_context)
    )
    return group_info, epoch.confirmation_key


def test_welcome_vectors_decrypt_and_verify() -> None:
    entries, skipped = split_by_suite(load(FILE))
    for entry in entries:
        suite = get_suite(entry["cipher_suite"])
        group_info, confirmation_key = _join(entry)
        assert group_info.verify_signature(suite, hexb(entry["signer_pub"]))
        assert confirmation_tag_is_valid(
            suite,
            confirmation_key,
            group_info.group_context.confirmed_transcript_hash,
            group_info.confirmation_tag,
        )
    print(summary(FILE, len(entries), skipped))


def test_welcome_with_wrong_init_key_does_not_decrypt() -> None:
    entries, _ = split_by_suite(load(FILE))
    entry = dict(entries[0])
    other_init_priv, _ = get_suite(entry["cipher_suite"]).generate_hpke_key_pair()
    entry["init_priv"] = other_init_priv.hex()
    with pytest.raises(CryptoError):
        _join(entry)


def test_group_info_signature_fails_for_another_signer() -> None:
    entries, _ = split_by_suite(load(FILE))
    suite = get_suite(entries[0]["cipher_suite"])
    group_info, _ = _join(entries[0])
    _, other_signer_pub = suite.generate_signature_key_pair()
    assert not group_info.verify_signature(suite, other_signer_pub)
