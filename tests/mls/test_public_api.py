"""The public MLS API as an application uses it: only bytes cross between members."""

from __future__ import annotations

import pytest

from sottovoce.mls import (
    ApplicationMessage,
    Credential,
    Group,
    GroupConfig,
    InvalidKeyPackage,
    MLSError,
    accept_any_credential,
    decode_bundle,
    encode_bundle,
    generate_key_package,
    key_package_message,
    parse_key_package,
)
from sottovoce.mls.errors import CredentialRejected, DecodeError


def test_two_devices_chat_through_bytes_only() -> None:
    config = GroupConfig(accept_any_credential)
    alice = Group.create(b"room", generate_key_package(b"alice"), config)
    bob_bundle = generate_key_package(b"bob")
    stored = encode_bundle(bob_bundle)
    published = key_package_message(bob_bundle)
    out = alice.commit(add=[parse_key_package(published)])
    alice.merge_pending_commit()
    assert out.welcome is not None
    bob = Group.join(out.welcome, decode_bundle(stored), config)
    assert bob.process(alice.encrypt(b"hi bob")) == ApplicationMessage(0, b"hi bob", b"")
    assert alice.process(bob.encrypt(b"hi alice")) == ApplicationMessage(1, b"hi alice", b"")


def test_tampered_key_package_is_refused() -> None:
    published = bytearray(key_package_message(generate_key_package(b"bob")))
    published[-1] ^= 1
    with pytest.raises(InvalidKeyPackage):
        parse_key_package(bytes(published))


def test_welcome_is_not_a_key_package() -> None:
    with pytest.raises(DecodeError):
        parse_key_package(b"\x00\x01\x00\x03")


def test_credential_validator_can_refuse_a_new_member() -> None:
    def only_alice(credential: Credential, signature_key: bytes) -> bool:
        return credential.identity == b"alice"

    alice = Group.create(b"room", generate_key_package(b"alice"), GroupConfig(only_alice))
    before = alice.state
    with pytest.raises(CredentialRejected):
        alice.commit(add=[generate_key_package(b"mallory").key_package])
    assert alice.state is before


def test_every_library_error_is_an_mls_error() -> None:
    assert issubclass(CredentialRejected, MLSError)
    assert issubclass(DecodeError, MLSError)
