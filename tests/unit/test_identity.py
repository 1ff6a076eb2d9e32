from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.e2ee_errors import (
    CertificateSignatureInvalid,
    IdentityKeyMismatch,
    MalformedCertificate,
    SignatureKeyMismatch,
)
from sottovoce.client.identity import (
    CERTIFICATE_LABEL,
    DeviceCertificate,
    DeviceKeys,
    IdentityKeyPair,
    credential_validator,
    issue_device_certificate,
    validate_credential,
)
from sottovoce.mls._codec import Writer, decode_all, serialize
from sottovoce.mls._group import Group
from sottovoce.mls._group_state import GroupConfig
from sottovoce.mls._key_package import KeyPackageBundle, create_key_package
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import Credential, Lifetime
from sottovoce.mls.errors import CredentialRejected

SUITE = get_suite(1)
NOW = 1_800_000_000
ALICE = "@alice:example.org"
BOB = "@bob:example.org"
MALLORY = "@mallory:example.org"


def device(identity: IdentityKeyPair, user_id: str, device_id: str) -> DeviceKeys:
    return DeviceKeys.create(identity, user_id, device_id)


def test_a_certificate_round_trips_and_validates_for_its_leaf() -> None:
    identity = IdentityKeyPair.generate()
    keys = device(identity, ALICE, "AAAAAAAAAAAA")
    encoded = keys.certificate.to_bytes()
    assert DeviceCertificate.from_bytes(encoded) == keys.certificate
    leaf_key = keys.certificate.device_signature_key
    cert = validate_credential(encoded, leaf_key, identity.public)
    assert (cert.user_id, cert.device_id) == (ALICE, "AAAAAAAAAAAA")


def test_the_identity_key_signs_a_domain_separated_encoding() -> None:
    identity = IdentityKeyPair.generate()
    cert = device(identity, ALICE, "AAAAAAAAAAAA").certificate
    content = (
        Writer()
        .opaque(CERTIFICATE_LABEL)
        .opaque(ALICE.encode())
        .opaque(b"AAAAAAAAAAAA")
        .opaque(cert.device_signature_key)
        .opaque(identity.public)
        .bytes()
    )
    Ed25519PublicKey.from_public_bytes(identity.public).verify(cert.signature, content)


@pytest.mark.parametrize(
    "field", ["user_id", "device_id", "device_signature_key", "identity_key", "signature"]
)
def test_changing_any_certified_field_breaks_the_signature(field: str) -> None:
    identity = IdentityKeyPair.generate()
    cert = device(identity, ALICE, "AAAAAAAAAAAA").certificate
    other = device(IdentityKeyPair.generate(), MALLORY, "BBBBBBBBBBBB").certificate
    forged = dataclasses.replace(cert, **{field: getattr(other, field)})
    with pytest.raises(CertificateSignatureInvalid):
        validate_credential(forged.to_bytes(), forged.device_signature_key, None)


def test_a_certificate_for_another_signature_key_is_refused() -> None:
    identity = IdentityKeyPair.generate()
    cert = device(identity, ALICE, "AAAAAAAAAAAA").certificate
    other_leaf = device(identity, ALICE, "BBBBBBBBBBBB").certificate.device_signature_key
    with pytest.raises(SignatureKeyMismatch):
        validate_credential(cert.to_bytes(), other_leaf, identity.public)


def test_a_certificate_signed_by_another_identity_key_is_refused() -> None:
    # Mallory certifies her own device as Alice's with her own identity key.
    mallory = IdentityKeyPair.generate()
    forged = device(mallory, ALICE, "AAAAAAAAAAAA").certificate
    alice = IdentityKeyPair.generate()
    with pytest.raises(IdentityKeyMismatch):
        validate_credential(forged.to_bytes(), forged.device_signature_key, alice.public)


@given(st.data())
def test_truncated_or_extended_certificates_are_malformed(data: st.DataObject) -> None:
    encoded = device(IdentityKeyPair.generate(), ALICE, "AAAAAAAAAAAA").certificate.to_bytes()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    for damaged in (encoded[:cut], encoded + data.draw(st.binary(min_size=1, max_size=8))):
        with pytest.raises(MalformedCertificate):
            DeviceCertificate.from_bytes(damaged)


def test_an_identity_key_pair_never_shows_its_private_half() -> None:
    identity = IdentityKeyPair.generate()
    assert identity.private.hex() not in repr(identity)
    keys = device(identity, ALICE, "AAAAAAAAAAAA")
    assert keys.signature_private.hex() not in repr(keys)
    assert IdentityKeyPair.from_private(identity.private) == identity


def test_device_keys_round_trip() -> None:
    keys = device(IdentityKeyPair.generate(), ALICE, "AAAAAAAAAAAA")
    assert decode_all(serialize(keys), DeviceKeys.decode) == keys
    assert SUITE.signature_public_key(keys.signature_private) == (
        keys.certificate.device_signature_key
    )


# -- the validator as the MLS group's credential hook -----------------------------------------


def key_package(keys: DeviceKeys) -> KeyPackageBundle:
    return create_key_package(
        SUITE,
        keys.signature_private,
        keys.credential,
        lifetime=Lifetime(NOW - 3600, NOW + 86400),
    )


def config(known: dict[str, bytes]) -> GroupConfig:
    return GroupConfig(credential_validator(known.get), clock=lambda: NOW)


def test_a_group_admits_devices_certified_by_their_users_known_identity_keys() -> None:
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    known = {ALICE: alice.public, BOB: bob.public}
    group = Group.create(b"room", key_package(device(alice, ALICE, "AAAAAAAAAAAA")), config(known))
    bob_package = key_package(device(bob, BOB, "BBBBBBBBBBBB"))
    out = group.commit(add=[bob_package.key_package])
    group.merge_pending_commit()
    assert out.welcome is not None
    joined = Group.join(out.welcome, bob_package, config(known))
    assert joined.epoch == group.epoch == 1


def test_a_group_refuses_a_device_certified_by_a_key_the_client_does_not_hold() -> None:
    alice, mallory = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    known = {ALICE: alice.public, BOB: IdentityKeyPair.generate().public}
    group = Group.create(b"room", key_package(device(alice, ALICE, "AAAAAAAAAAAA")), config(known))
    impostor = key_package(device(mallory, BOB, "BBBBBBBBBBBB"))
    with pytest.raises(CredentialRejected):
        group.commit(add=[impostor.key_package])
    assert group.epoch == 0


def test_a_joiner_refuses_a_group_with_a_member_of_an_unknown_user() -> None:
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    everyone = {ALICE: alice.public, BOB: bob.public}
    group = Group.create(
        b"room", key_package(device(alice, ALICE, "AAAAAAAAAAAA")), config(everyone)
    )
    bob_package = key_package(device(bob, BOB, "BBBBBBBBBBBB"))
    out = group.commit(add=[bob_package.key_package])
    assert out.welcome is not None
    with pytest.raises(CredentialRejected):
        Group.join(out.welcome, bob_package, config({BOB: bob.public}))


def test_a_plain_credential_without_certificate_is_refused() -> None:
    validate = credential_validator({ALICE: IdentityKeyPair.generate().public}.get)
    assert not validate(Credential.basic(ALICE.encode()), bytes(32))


def test_only_an_ed25519_signature_key_can_be_certified() -> None:
    with pytest.raises(ValueError):
        issue_device_certificate(IdentityKeyPair.generate(), ALICE, "AAAAAAAAAAAA", bytes(31))
