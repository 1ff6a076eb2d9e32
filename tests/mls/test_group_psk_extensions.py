"""External PSKs and group-context extensions, proposed and committed."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from sottovoce.mls._group import Group
from sottovoce.mls._group_state import GroupConfig, accept_any_credential
from sottovoce.mls._key_package import create_key_package
from sottovoce.mls._tree_structs import (
    Capabilities,
    Credential,
    Extension,
    ExtensionType,
    RequiredCapabilities,
)
from sottovoce.mls.errors import InvalidCommit, InvalidProposal
from tests.mls.group_helpers import (
    LIFETIME,
    NOW,
    SUITE,
    add_members,
    assert_same_epoch,
    bundle,
    config,
    new_group,
)

PSK_ID = b"shared-psk"


def _with_psk(group: Group, value: bytes) -> Group:
    """The same member, its config now knowing the external PSK."""
    psks = MappingProxyType({PSK_ID: value})
    config = GroupConfig(accept_any_credential, external_psks=psks, clock=lambda: NOW)
    return Group.from_bytes(group.to_bytes(), config)


def test_external_psk_commit_keeps_members_together() -> None:
    alice = new_group()
    bob, carol = add_members(alice, [], ["bob", "carol"])
    alice, bob, carol = (_with_psk(g, b"k" * 32) for g in (alice, bob, carol))
    before = alice.export_secret(b"x", b"", 32)
    out = alice.commit(external_psks=[PSK_ID])
    alice.merge_pending_commit()
    bob.process(out.message)
    carol.process(out.message)
    assert_same_epoch([alice, bob, carol])
    assert alice.export_secret(b"x", b"", 32) != before


def test_member_without_the_psk_rejects_the_commit() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    alice = _with_psk(alice, b"k" * 32)
    out = alice.commit(external_psks=[PSK_ID])
    before = bob.state
    with pytest.raises(InvalidProposal):
        bob.process(out.message)
    assert bob.state is before


def test_members_with_different_psk_values_do_not_agree() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    alice, bob = _with_psk(alice, b"k" * 32), _with_psk(bob, b"j" * 32)
    out = alice.commit(external_psks=[PSK_ID])
    with pytest.raises(InvalidCommit):
        bob.process(out.message)


def test_psk_proposal_by_reference_is_committed_by_another_member() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    alice, bob = _with_psk(alice, b"k" * 32), _with_psk(bob, b"k" * 32)
    bob.process(alice.propose_external_psk(PSK_ID))
    out = bob.commit(with_path=False)
    bob.merge_pending_commit()
    alice.process(out.message)
    assert_same_epoch([alice, bob])


def test_group_extensions_change_and_new_members_see_them() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    app_id = Extension(ExtensionType.APPLICATION_ID, b"sottovoce")
    bob.process(alice.propose_extensions((app_id,)))
    out = bob.commit()
    bob.merge_pending_commit()
    alice.process(out.message)
    assert alice.state.context.extensions == (app_id,)
    (carol,) = add_members(alice, [bob], ["carol"])
    assert carol.state.context.extensions == (app_id,)
    assert_same_epoch([alice, bob, carol])


def test_required_capability_no_member_supports_is_refused() -> None:
    alice = new_group()
    add_members(alice, [], ["bob"])
    required = RequiredCapabilities(extension_types=(0xFF00,))
    extension = required.extension()
    before = alice.state
    with pytest.raises(InvalidProposal):
        alice.commit(extensions=(extension,))
    assert alice.state is before


def test_new_member_lacking_a_required_capability_cannot_be_added() -> None:
    capable = Capabilities(cipher_suites=(SUITE.suite_id,), extensions=(0xFF00,))
    signature_priv, _ = SUITE.generate_signature_key_pair()
    founder = create_key_package(
        SUITE,
        signature_priv,
        Credential.basic(b"alice"),
        lifetime=LIFETIME,
        capabilities=capable,
    )
    alice = Group.create(b"group-caps", founder, config())
    required = RequiredCapabilities(extension_types=(0xFF00,))
    extension = required.extension()
    alice.commit(extensions=(extension,))
    alice.merge_pending_commit()
    before = alice.state
    with pytest.raises(InvalidProposal):
        alice.commit(add=[bundle("bob").key_package])
    assert alice.state is before
