"""Group behaviour end to end: members create, add, message, update, remove, join externally."""

from __future__ import annotations

import pytest

from sottovoce.mls._group import ApplicationMessage, CommitApplied, Group, ProposalReceived
from sottovoce.mls._key_package import create_key_package
from sottovoce.mls._tree_structs import Credential
from sottovoce.mls.errors import WrongEpoch
from tests.mls.group_helpers import (
    LIFETIME,
    SUITE,
    add_members,
    assert_same_epoch,
    bundle,
    commit_and_deliver,
    config,
    new_group,
)


@pytest.mark.parametrize("encrypt_handshake", [True, False])
def test_added_members_share_the_epoch_and_read_each_other(encrypt_handshake: bool) -> None:
    alice = new_group(encrypt_handshake=encrypt_handshake)
    bob, carol = add_members(alice, [], ["bob", "carol"], encrypt_handshake=encrypt_handshake)
    assert_same_epoch([alice, bob, carol])
    message = bob.encrypt(b"hello", authenticated_data=b"meta")
    for reader in (alice, carol):
        received = reader.process(message)
        assert received == ApplicationMessage(bob.own_leaf, b"hello", b"meta")


def test_commit_without_path_adds_a_member() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    carol_bundle = bundle("carol")
    out = alice.commit(add=[carol_bundle.key_package], with_path=False)
    alice.merge_pending_commit()
    bob.process(out.message)
    assert out.welcome is not None
    carol = Group.join(out.welcome, carol_bundle, config())
    assert_same_epoch([alice, bob, carol])


def test_members_follow_a_long_history_of_commits() -> None:
    alice = new_group()
    bob, carol, dave = add_members(alice, [], ["bob", "carol", "dave"])
    group = [alice, bob, carol, dave]
    for committer in (bob, dave, carol, alice):
        commit_and_deliver(committer, [g for g in group if g is not committer])
        assert_same_epoch(group)
    (erin,) = add_members(carol, [alice, bob, dave], ["erin"])
    group.append(erin)
    assert_same_epoch(group)
    commit_and_deliver(erin, group[:-1])
    assert_same_epoch(group)


def test_update_proposal_by_reference_is_committed_by_another_member() -> None:
    alice = new_group()
    bob, carol = add_members(alice, [], ["bob", "carol"])
    proposal = bob.propose_update()
    for member in (alice, carol):
        assert isinstance(member.process(proposal), ProposalReceived)
    commit_and_deliver(alice, [bob, carol])
    assert_same_epoch([alice, bob, carol])
    assert bob.process(carol.encrypt(b"after update")) == ApplicationMessage(
        carol.own_leaf, b"after update", b""
    )


def test_remove_proposal_by_reference_then_commit() -> None:
    alice = new_group()
    bob, carol = add_members(alice, [], ["bob", "carol"])
    proposal = carol.propose_remove(bob.own_leaf)
    alice.process(proposal)
    bob.process(proposal)
    out = alice.commit()
    alice.merge_pending_commit()
    carol.process(out.message)
    result = bob.process(out.message)
    assert isinstance(result, CommitApplied) and result.removed_self
    assert not bob.active
    assert_same_epoch([alice, carol])
    assert set(alice.members()) == {alice.own_leaf, carol.own_leaf}


@pytest.mark.parametrize("encrypt_handshake", [True, False])
def test_member_whose_leaf_a_newcomer_takes_in_the_same_commit_learns_it_was_removed(
    encrypt_handshake: bool,
) -> None:
    alice = new_group(encrypt_handshake=encrypt_handshake)
    (bob,) = add_members(alice, [], ["bob"], encrypt_handshake=encrypt_handshake)
    carol_bundle = bundle("carol")
    out = alice.commit(remove=[bob.own_leaf], add=[carol_bundle.key_package])
    alice.merge_pending_commit()
    # The Add takes the leftmost blank leaf: the one the Remove just emptied, bob's.
    assert alice.members()[bob.own_leaf].identity == b"carol"
    result = bob.process(out.message)
    assert isinstance(result, CommitApplied) and result.removed_self
    assert result.removed == (1,) and result.added == (1,)
    assert not bob.active
    assert out.welcome is not None
    carol = Group.join(out.welcome, carol_bundle, config(encrypt_handshake=encrypt_handshake))
    assert_same_epoch([alice, carol])


def test_external_join_brings_a_new_member_in() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    dave, commit = Group.join_external(alice.group_info(), bundle("dave"), config())
    for member in (alice, bob):
        result = member.process(commit)
        assert isinstance(result, CommitApplied)
    assert_same_epoch([alice, bob, dave])
    assert alice.process(dave.encrypt(b"hi")) == ApplicationMessage(dave.own_leaf, b"hi", b"")


def test_exported_secrets_differ_by_label_and_epoch() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    first = alice.export_secret(b"a", b"", 32)
    assert first != alice.export_secret(b"b", b"", 32)
    commit_and_deliver(bob, [alice])
    assert alice.export_secret(b"a", b"", 32) != first


def test_member_who_lost_its_state_rejoins_externally_replacing_its_old_leaf() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    old_leaf = bob.own_leaf
    signature_priv = bob.state.signature_priv
    fresh = create_key_package(SUITE, signature_priv, Credential.basic(b"bob"), lifetime=LIFETIME)
    bob_again, commit = Group.join_external(
        alice.group_info(), fresh, config(), resync_leaf=old_leaf
    )
    result = alice.process(commit)
    assert isinstance(result, CommitApplied) and result.removed == (old_leaf,)
    assert_same_epoch([alice, bob_again])
    assert len(alice.members()) == 2


def test_own_commit_coming_back_from_the_delivery_service_is_merged() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    out = alice.commit()
    result = alice.process(out.message)
    assert isinstance(result, CommitApplied) and not result.removed_self
    bob.process(out.message)
    assert_same_epoch([alice, bob])


def test_losing_a_commit_race_drops_the_own_pending_commit() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    losing = alice.commit()
    winning = bob.commit()
    bob.process(winning.message)
    alice.process(winning.message)
    assert_same_epoch([alice, bob])
    before = alice.state
    with pytest.raises(WrongEpoch):
        alice.process(losing.message)
    assert alice.state is before


def test_add_proposed_by_one_member_is_committed_by_another_and_the_joiner_gets_in() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    carol_bundle = bundle("carol")
    alice.process(bob.propose_add(carol_bundle.key_package))
    dave_bundle = bundle("dave")
    out = alice.commit(add=[dave_bundle.key_package])
    alice.merge_pending_commit()
    result = bob.process(out.message)
    assert isinstance(result, CommitApplied) and len(result.added) == 2
    assert out.welcome is not None
    carol = Group.join(out.welcome, carol_bundle, config())
    dave = Group.join(out.welcome, dave_bundle, config())
    assert_same_epoch([alice, bob, carol, dave])


def test_message_lengths_are_padded_to_the_block_size() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    short, longer = alice.encrypt(b"a"), alice.encrypt(b"a" * 20)
    assert len(short) == len(longer)
    assert bob.process(longer) == ApplicationMessage(alice.own_leaf, b"a" * 20, b"")
