"""Members for group tests: real key packages, real groups, messages passed as bytes."""

from __future__ import annotations

from sottovoce.mls._group import Group
from sottovoce.mls._group_state import GroupConfig, accept_any_credential
from sottovoce.mls._key_package import KeyPackageBundle, create_key_package
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import Credential, Lifetime

SUITE = get_suite(1)
NOW = 1_800_000_000
LIFETIME = Lifetime(NOW - 3600, NOW + 90 * 86400)


def config(*, encrypt_handshake: bool = True) -> GroupConfig:
    return GroupConfig(
        accept_any_credential, clock=lambda: NOW, encrypt_handshake=encrypt_handshake
    )


def bundle(name: str) -> KeyPackageBundle:
    signature_priv, _ = SUITE.generate_signature_key_pair()
    return create_key_package(
        SUITE, signature_priv, Credential.basic(name.encode()), lifetime=LIFETIME
    )


def new_group(*, group_id: bytes = b"group-1", encrypt_handshake: bool = True) -> Group:
    return Group.create(group_id, bundle("alice"), config(encrypt_handshake=encrypt_handshake))


def add_members(
    committer: Group, others: list[Group], names: list[str], *, encrypt_handshake: bool = True
) -> list[Group]:
    """``committer`` adds ``names`` in one commit; ``others`` process it; the new members join."""
    bundles = [bundle(n) for n in names]
    out = committer.commit(add=[b.key_package for b in bundles])
    committer.merge_pending_commit()
    for member in others:
        member.process(out.message)
    assert out.welcome is not None
    return [
        Group.join(out.welcome, b, config(encrypt_handshake=encrypt_handshake)) for b in bundles
    ]


def commit_and_deliver(committer: Group, others: list[Group]) -> bytes:
    out = committer.commit()
    committer.merge_pending_commit()
    for member in others:
        member.process(out.message)
    return out.message


def assert_same_epoch(groups: list[Group]) -> None:
    first = groups[0]
    for g in groups[1:]:
        assert g.epoch == first.epoch
        assert g.epoch_authenticator == first.epoch_authenticator
        assert g.export_secret(b"test", b"", 32) == first.export_secret(b"test", b"", 32)
