"""The public MLS API as an application uses it: only bytes cross between members."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import pytest

import sottovoce.mls
from sottovoce.mls import (
    ApplicationMessage,
    CommitApplied,
    Credential,
    ExtensionType,
    Group,
    GroupConfig,
    InvalidKeyPackage,
    MLSError,
    RequiredCapabilities,
    Sender,
    accept_any_credential,
    decode_bundle,
    encode_bundle,
    generate_key_package,
    key_package_message,
    parse_key_package,
)
from sottovoce.mls._codec import decode_all
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import CredentialRejected, DecodeError

CONFIG = GroupConfig(accept_any_credential)


def _pair() -> tuple[Group, Group]:
    alice = Group.create(b"room", generate_key_package(b"alice"), CONFIG)
    bob_bundle = generate_key_package(b"bob")
    out = alice.commit(add=[parse_key_package(key_package_message(bob_bundle))])
    alice.merge_pending_commit()
    assert out.welcome is not None
    return alice, Group.join(out.welcome, bob_bundle, CONFIG, ratchet_tree=alice.ratchet_tree())


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


def test_one_member_is_read_without_listing_them_all() -> None:
    alice, bob = _pair()
    assert bob.member(0) == bob.members()[0] == alice.member(0)
    assert bob.member(1) is not None and bob.member(1).identity == b"bob"
    assert bob.member(2) is None and bob.member(-1) is None


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


def test_every_member_exports_the_ratchet_tree_the_epoch_commits_to() -> None:
    alice, bob = _pair()
    tree = alice.ratchet_tree()
    assert bob.ratchet_tree() == tree
    decoded = decode_all(tree, RatchetTree.decode)
    assert decoded.tree_hash(get_suite(1)) == alice.state.context.tree_hash
    bob.process(alice.commit().message)
    alice.merge_pending_commit()
    assert alice.ratchet_tree() == bob.ratchet_tree() != tree


def test_required_capabilities_are_committed_with_public_types_only() -> None:
    alice, bob = _pair()
    extension = RequiredCapabilities(proposal_types=()).extension()
    assert extension.extension_type == ExtensionType.REQUIRED_CAPABILITIES
    bob.process(alice.propose_extensions((extension,)))
    out = bob.commit()
    bob.merge_pending_commit()
    result = alice.process(out.message)
    assert result == CommitApplied(Sender.member(bob.own_leaf), 2, (), (), removed_self=False)
    assert alice.state.context.extensions == bob.state.context.extensions == (extension,)
    assert alice.epoch_authenticator == bob.epoch_authenticator


def _public_calls() -> Sequence[object]:
    calls = []
    for name in sottovoce.mls.__all__:
        obj = getattr(sottovoce.mls, name)
        if inspect.isfunction(obj):
            calls.append(pytest.param(obj, id=name))
    for name, attr in vars(Group).items():
        if not name.startswith("_"):
            call = attr.fget if isinstance(attr, property) else attr
            calls.append(pytest.param(call, id=f"Group.{name}"))
    return calls


@pytest.mark.parametrize("call", _public_calls())
def test_every_public_call_documents_what_it_guarantees(call: object) -> None:
    assert inspect.getdoc(call), "a public call without a docstring"
