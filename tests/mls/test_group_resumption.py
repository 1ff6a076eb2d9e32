"""Branching a subgroup and continuing after a ReInit (RFC 9420 sections 11.2, 11.3): the new
group's first commit carries a resumption PSK of the old group, which joiners take from their
own copy of the old group, checking the new group against it."""

from __future__ import annotations

import dataclasses

import pytest

from sottovoce.mls._codec import serialize
from sottovoce.mls._framing_structs import MLSMessage
from sottovoce.mls._group import CommitOutput, Group
from sottovoce.mls._group_state import RESUMPTION_PSK_EPOCHS
from sottovoce.mls._key_package import KeyPackageBundle
from sottovoce.mls._key_schedule import epoch_secrets_from_joiner
from sottovoce.mls._proposals import Add, PreSharedKey, Proposal, ResumptionPSKUsage
from sottovoce.mls._psk import ResumptionPSKs, resolve_psks
from sottovoce.mls._resumption import resumption_psk_id
from sottovoce.mls._transcript import confirmation_tag
from sottovoce.mls._tree_structs import Extension, ExtensionType, RequiredCapabilities
from sottovoce.mls._welcome import GroupInfo, GroupSecrets, create_welcome
from sottovoce.mls.errors import (
    GroupClosed,
    InvalidProposal,
    MLSError,
    ResumptionEpochMismatch,
    ResumptionGroupMissing,
    ResumptionMembersMismatch,
    ResumptionParametersMismatch,
)
from tests.mls.group_helpers import (
    SUITE,
    add_members,
    assert_same_epoch,
    bundle,
    commit_and_deliver,
    config,
    new_group,
)

REINIT_EXTENSIONS = (
    Extension(ExtensionType.REQUIRED_CAPABILITIES, serialize(RequiredCapabilities())),
)


def _three() -> tuple[Group, Group, Group]:
    alice = new_group()
    bob, carol = add_members(alice, [], ["bob", "carol"])
    return alice, bob, carol


def _reinit(committer: Group, others: list[Group], new_group_id: bytes = b"group-2") -> None:
    """``others[0]`` proposes a ReInit, ``committer`` commits it, everyone merges it."""
    proposal = others[0].propose_reinit(new_group_id)
    committer.process(proposal)
    for member in others[1:]:
        member.process(proposal)
    out = committer.commit(with_path=False)
    committer.merge_pending_commit()
    for member in others:
        member.process(out.message)


def _join(out: CommitOutput, joiner: KeyPackageBundle, old: Group | None) -> Group:
    assert out.welcome is not None
    return Group.join(out.welcome, joiner, config(), resumption_from=old)


def _rejects_join(
    out: CommitOutput, joiner: KeyPackageBundle, old: Group | None, error: type[MLSError]
) -> None:
    saved = None if old is None else (old.state, old.to_bytes())
    with pytest.raises(error):
        _join(out, joiner, old)
    if old is not None:
        assert saved == (old.state, old.to_bytes())


def _crafted(
    old: Group,
    usage: ResumptionPSKUsage,
    group_id: bytes,
    creator: KeyPackageBundle,
    joiners: list[KeyPackageBundle],
) -> CommitOutput:
    """A new group's first commit with a resumption PSK of ``old``, made without the
    creator-side checks, so a joiner's own checks are what stands between it and the group."""
    new = Group.create(group_id, creator, config())
    psk = resumption_psk_id(old.state, usage, bytes(32))
    inline = [Proposal(Add(b.key_package)) for b in joiners] + [Proposal(PreSharedKey(psk))]
    resumed = ResumptionPSKs(old.group_id, old.state.resumption_psks)
    return new._commit(inline, True, b"", resumed)


# -- branch -------------------------------------------------------------------------------


def test_branch_starts_a_subgroup_the_chosen_members_join() -> None:
    alice, bob, carol = _three()
    old_epoch, old_authenticator = alice.epoch, alice.epoch_authenticator
    bob2 = bundle("bob")
    sub, out = alice.branch(b"subgroup", bundle("alice"), [bob2.key_package])
    sub.merge_pending_commit()
    bob_sub = _join(out, bob2, bob)
    assert sub.group_id == bob_sub.group_id == b"subgroup"
    assert sub.epoch == 1
    assert_same_epoch([sub, bob_sub])
    assert {c.identity for c in bob_sub.members().values()} == {b"alice", b"bob"}
    bob_sub.process(sub.encrypt(b"only for the subgroup"))
    # The old group goes on untouched.
    assert (alice.epoch, alice.epoch_authenticator) == (old_epoch, old_authenticator)
    commit_and_deliver(carol, [alice, bob])
    assert_same_epoch([alice, bob, carol])


def test_branch_from_an_epoch_the_joiner_has_moved_past_uses_a_kept_psk() -> None:
    alice, bob, carol = _three()
    bob2, carol2 = bundle("bob"), bundle("carol")
    sub, out = alice.branch(b"subgroup", bundle("alice"), [bob2.key_package, carol2.key_package])
    sub.merge_pending_commit()
    commit_and_deliver(alice, [bob, carol])
    commit_and_deliver(bob, [alice, carol])
    restarted_bob = Group.from_bytes(bob.to_bytes(), config())
    joined = [_join(out, bob2, restarted_bob), _join(out, carol2, carol)]
    assert_same_epoch([sub, *joined])


def test_branch_psk_older_than_the_kept_epochs_is_refused() -> None:
    alice, bob, _ = _three()
    bob2 = bundle("bob")
    _, out = alice.branch(b"subgroup", bundle("alice"), [bob2.key_package])
    for _ in range(RESUMPTION_PSK_EPOCHS):
        commit_and_deliver(bob, [alice])
    _rejects_join(out, bob2, bob, ResumptionEpochMismatch)


def test_branch_with_an_outsider_is_refused_and_changes_nothing() -> None:
    alice, _, _ = _three()
    before = alice.to_bytes()
    with pytest.raises(ResumptionMembersMismatch):
        alice.branch(b"subgroup", bundle("alice"), [bundle("mallory").key_package])
    assert alice.to_bytes() == before


def test_branch_under_the_old_group_id_is_refused() -> None:
    alice, _, _ = _three()
    with pytest.raises(ResumptionParametersMismatch):
        alice.branch(alice.group_id, bundle("alice"), [bundle("bob").key_package])


def test_joiner_refuses_a_branch_with_an_outsider() -> None:
    alice, bob, _ = _three()
    bob2 = bundle("bob")
    usage = ResumptionPSKUsage.BRANCH
    out = _crafted(alice, usage, b"subgroup", bundle("alice"), [bob2, bundle("mallory")])
    _rejects_join(out, bob2, bob, ResumptionMembersMismatch)


def test_joiner_refuses_a_branch_under_the_old_group_id() -> None:
    alice, bob, _ = _three()
    bob2 = bundle("bob")
    out = _crafted(alice, ResumptionPSKUsage.BRANCH, alice.group_id, bundle("alice"), [bob2])
    _rejects_join(out, bob2, bob, ResumptionParametersMismatch)


def test_joiner_refuses_a_branch_group_not_at_epoch_1() -> None:
    alice, bob, _ = _three()
    bob2 = bundle("bob")
    sub, _ = alice.branch(b"subgroup", bundle("alice"), [bob2.key_package])
    pending = sub._pending_commit
    assert pending is not None
    # A Welcome into the same group claimed at epoch 2, built and signed as a creator that
    # ignores section 11.3 would: the key schedule is sound, only the epoch is wrong.
    state = pending.state
    context = dataclasses.replace(state.context, epoch=2)
    psk = resumption_psk_id(alice.state, ResumptionPSKUsage.BRANCH, bytes(32))
    resumed = ResumptionPSKs(alice.group_id, alice.state.resumption_psks)
    psk_secret = resolve_psks(SUITE, [psk], external={}, own=None, resumed=resumed)
    joiner_secret = bytes(range(32))
    secrets = epoch_secrets_from_joiner(SUITE, joiner_secret, psk_secret, serialize(context))
    tag = confirmation_tag(SUITE, secrets.confirmation_key, context.confirmed_transcript_hash)
    ratchet_tree = (Extension(ExtensionType.RATCHET_TREE, serialize(state.tree)),)
    info = GroupInfo(context, ratchet_tree, tag, state.own_leaf).signed(SUITE, state.signature_priv)
    group_secrets = GroupSecrets(joiner_secret, None, (psk,))
    welcome = create_welcome(
        SUITE, secrets.welcome_secret, info, [(bob2.key_package, group_secrets)]
    )
    out = CommitOutput(b"", serialize(MLSMessage(welcome)))
    _rejects_join(out, bob2, bob, ResumptionEpochMismatch)


def test_branch_welcome_needs_the_old_group() -> None:
    alice, _, _ = _three()
    other = new_group(group_id=b"unrelated")
    bob2 = bundle("bob")
    _, out = alice.branch(b"subgroup", bundle("alice"), [bob2.key_package])
    _rejects_join(out, bob2, None, ResumptionGroupMissing)
    _rejects_join(out, bob2, other, ResumptionGroupMissing)


def test_plain_welcome_with_an_old_group_given_is_refused() -> None:
    alice, bob, _ = _three()
    dave = bundle("dave")
    out = alice.commit(add=[dave.key_package])
    _rejects_join(out, dave, bob, ResumptionGroupMissing)


def test_a_branch_psk_in_an_ordinary_commit_is_refused() -> None:
    alice, bob, _ = _three()
    psk = resumption_psk_id(bob.state, ResumptionPSKUsage.BRANCH, bytes(32))
    before = alice.state
    with pytest.raises(InvalidProposal):
        alice._commit([Proposal(PreSharedKey(psk))], True, b"")
    assert alice.state is before


# -- reinit -------------------------------------------------------------------------------


def test_reinit_continues_in_the_new_group_with_every_member() -> None:
    alice, bob, carol = _three()
    assert not alice.reinitialized
    _reinit(bob, [alice, carol])
    alice, carol = (Group.from_bytes(g.to_bytes(), config()) for g in (alice, carol))
    assert alice.reinitialized and bob.reinitialized and alice.active
    with pytest.raises(GroupClosed):
        alice.encrypt(b"old group is closed")
    fresh = {name: bundle(name) for name in ("alice", "carol")}
    new_bob, out = bob.reinit_continue(bundle("bob"), [b.key_package for b in fresh.values()])
    new_bob.merge_pending_commit()
    new_alice = _join(out, fresh["alice"], alice)
    new_carol = _join(out, fresh["carol"], carol)
    assert new_bob.group_id == b"group-2"
    assert new_bob.epoch == 1
    assert_same_epoch([new_bob, new_alice, new_carol])
    assert new_carol.process(new_alice.encrypt(b"hello again")).data == b"hello again"


def test_reinit_takes_the_proposed_extensions() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    bob.process(alice.propose_reinit(b"group-2", REINIT_EXTENSIONS))
    out = bob.commit(with_path=False)
    bob.merge_pending_commit()
    alice.process(out.message)
    fresh_alice = bundle("alice")
    new_bob, out = bob.reinit_continue(bundle("bob"), [fresh_alice.key_package])
    new_bob.merge_pending_commit()
    new_alice = _join(out, fresh_alice, alice)
    assert new_alice.state.context.extensions == REINIT_EXTENSIONS
    assert_same_epoch([new_bob, new_alice])


def test_reinit_continue_without_a_reinit_is_refused() -> None:
    alice, _, _ = _three()
    before = alice.to_bytes()
    with pytest.raises(ResumptionParametersMismatch):
        alice.reinit_continue(bundle("alice"), [])
    assert alice.to_bytes() == before


def test_reinit_continue_leaving_a_member_out_is_refused() -> None:
    alice, bob, carol = _three()
    _reinit(bob, [alice, carol])
    before = bob.to_bytes()
    with pytest.raises(ResumptionMembersMismatch):
        bob.reinit_continue(bundle("bob"), [bundle("alice").key_package])
    assert bob.to_bytes() == before


def test_joiner_refuses_a_reinit_that_leaves_a_member_out() -> None:
    alice, bob, carol = _three()
    _reinit(bob, [alice, carol])
    alice2 = bundle("alice")
    out = _crafted(bob, ResumptionPSKUsage.REINIT, b"group-2", bundle("bob"), [alice2])
    _rejects_join(out, alice2, alice, ResumptionMembersMismatch)


def test_joiner_refuses_a_reinit_under_another_group_id() -> None:
    alice, bob, carol = _three()
    _reinit(bob, [alice, carol])
    alice2, carol2 = bundle("alice"), bundle("carol")
    usage = ResumptionPSKUsage.REINIT
    out = _crafted(bob, usage, b"not-group-2", bundle("bob"), [alice2, carol2])
    _rejects_join(out, alice2, alice, ResumptionParametersMismatch)


def test_joiner_that_missed_the_reinit_commit_is_refused() -> None:
    alice, bob, carol = _three()
    proposal = alice.propose_reinit(b"group-2")
    bob.process(proposal)
    carol.process(proposal)
    out = bob.commit(with_path=False)
    bob.merge_pending_commit()
    alice.process(out.message)  # carol never sees the ReInit commit
    carol2, alice2 = bundle("carol"), bundle("alice")
    _, welcome = bob.reinit_continue(bundle("bob"), [alice2.key_package, carol2.key_package])
    _rejects_join(welcome, carol2, carol, ResumptionEpochMismatch)
    assert _join(welcome, alice2, alice).epoch == 1


def test_joiner_refuses_a_reinit_psk_of_a_group_without_reinit() -> None:
    alice, bob, _ = _three()
    alice2, carol2 = bundle("alice"), bundle("carol")
    usage = ResumptionPSKUsage.REINIT
    out = _crafted(bob, usage, b"group-2", bundle("bob"), [alice2, carol2])
    _rejects_join(out, alice2, alice, ResumptionParametersMismatch)
