"""Messages a member must reject: each raises a specific error and leaves the group as it was,
so the next valid message still goes through."""

from __future__ import annotations

import dataclasses

import pytest

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing import protect_private, protect_public
from sottovoce.mls._framing_structs import (
    FramedContent,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    Sender,
)
from sottovoce.mls._group import ApplicationMessage, Group
from sottovoce.mls._group_state import group_info
from sottovoce.mls._proposals import Proposal, ProposalOrRef, Remove
from sottovoce.mls._welcome import GroupSecrets, create_welcome
from sottovoce.mls.errors import (
    CryptoError,
    GenerationError,
    GroupClosed,
    InvalidCommit,
    InvalidProposal,
    InvalidSignature,
    InvalidWelcome,
    NotAMember,
    WrongEpoch,
    WrongGroup,
)
from tests.mls.group_helpers import SUITE, add_members, bundle, config, new_group


def _three(encrypt_handshake: bool = True) -> tuple[Group, Group, Group]:
    alice = new_group(encrypt_handshake=encrypt_handshake)
    bob, carol = add_members(alice, [], ["bob", "carol"], encrypt_handshake=encrypt_handshake)
    return alice, bob, carol


def _rejects(group: Group, message: bytes, error: type[Exception]) -> None:
    before = group.state
    with pytest.raises(error):
        group.process(message)
    assert group.state is before


def _tampered_private(message: bytes) -> bytes:
    body = decode_all(message, MLSMessage.decode).body
    assert isinstance(body, PrivateMessage)
    flipped = bytes([body.ciphertext[0] ^ 1]) + body.ciphertext[1:]
    return serialize(MLSMessage(dataclasses.replace(body, ciphertext=flipped)))


def test_tampered_ciphertext_is_rejected_and_the_original_still_decrypts() -> None:
    alice, bob, _ = _three()
    message = bob.encrypt(b"secret")
    _rejects(alice, _tampered_private(message), CryptoError)
    assert alice.process(message) == ApplicationMessage(bob.own_leaf, b"secret", b"")


def test_replayed_application_message_is_rejected() -> None:
    alice, bob, _ = _three()
    message = bob.encrypt(b"once")
    alice.process(message)
    _rejects(alice, message, GenerationError)


def test_message_from_a_past_epoch_is_rejected() -> None:
    alice, bob, carol = _three()
    old = bob.encrypt(b"old epoch")
    out = carol.commit()
    carol.merge_pending_commit()
    alice.process(out.message)
    _rejects(alice, old, WrongEpoch)


def test_message_for_another_group_is_rejected() -> None:
    alice, _, _ = _three()
    other = new_group(group_id=b"group-2")
    (dave,) = add_members(other, [], ["dave"])
    _rejects(alice, dave.encrypt(b"elsewhere"), WrongGroup)


def test_wrongly_signed_proposal_is_rejected() -> None:
    alice, bob, carol = _three(encrypt_handshake=False)
    state = bob.state
    content = FramedContent(
        state.context.group_id,
        state.context.epoch,
        Sender.member(bob.own_leaf),
        b"",
        Proposal(Remove(carol.own_leaf)),
    )
    other_priv, _ = SUITE.generate_signature_key_pair()
    forged = protect_public(SUITE, other_priv, content, state.context, state.secrets.membership_key)
    _rejects(alice, serialize(MLSMessage(forged)), InvalidSignature)


def test_outsider_without_membership_key_is_rejected() -> None:
    alice, bob, carol = _three(encrypt_handshake=False)
    state = bob.state
    content = FramedContent(
        state.context.group_id,
        state.context.epoch,
        Sender.member(bob.own_leaf),
        b"",
        Proposal(Remove(carol.own_leaf)),
    )
    forged = protect_public(SUITE, state.signature_priv, content, state.context, bytes(32))
    _rejects(alice, serialize(MLSMessage(forged)), InvalidSignature)


def test_member_impersonating_another_member_is_rejected() -> None:
    alice, bob, carol = _three()
    state = bob.state
    # Bob knows every leaf's ratchet, so he can encrypt as Carol, but cannot sign as her.
    content = FramedContent(
        state.context.group_id,
        state.context.epoch,
        Sender.member(carol.own_leaf),
        b"",
        b"I am Carol",
    )
    forged, _ = protect_private(
        SUITE,
        state.signature_priv,
        content,
        state.context,
        state.secret_tree,
        state.secrets.sender_data_secret,
    )
    _rejects(alice, serialize(MLSMessage(forged)), InvalidSignature)


def test_removed_member_cannot_read_the_next_epoch() -> None:
    alice, bob, carol = _three()
    out = alice.commit(remove=[bob.own_leaf])
    alice.merge_pending_commit()
    carol.process(out.message)
    bob.process(out.message)
    message = alice.encrypt(b"bob is gone")
    assert carol.process(message) == ApplicationMessage(alice.own_leaf, b"bob is gone", b"")
    with pytest.raises(NotAMember):
        bob.process(message)


def test_removed_member_that_ignores_its_removal_cannot_read_either() -> None:
    alice, bob, carol = _three()
    out = alice.commit(remove=[bob.own_leaf])
    alice.merge_pending_commit()
    carol.process(out.message)
    _rejects(bob, alice.encrypt(b"bob is gone"), WrongEpoch)


def test_commit_with_wrong_confirmation_tag_is_rejected() -> None:
    alice, bob, _ = _three(encrypt_handshake=False)
    out = bob.commit()
    message = decode_all(out.message, MLSMessage.decode).body
    assert isinstance(message, PublicMessage)
    state = bob.state
    forged = protect_public(
        SUITE,
        state.signature_priv,
        message.content,
        state.context,
        state.secrets.membership_key,
        confirmation_tag=bytes(32),
    )
    _rejects(alice, serialize(MLSMessage(forged)), InvalidCommit)
    alice.process(out.message)
    bob.merge_pending_commit()
    assert alice.epoch_authenticator == bob.epoch_authenticator


def _crafted_commit(member: Group, commit: Commit) -> bytes:
    """A commit signed and tagged by a real member but built without the creator's checks;
    its confirmation tag is garbage, so only rules checked before the tag can catch it."""
    state = member.state
    content = FramedContent(
        state.context.group_id,
        state.context.epoch,
        Sender.member(member.own_leaf),
        b"",
        commit,
    )
    message = protect_public(
        SUITE,
        state.signature_priv,
        content,
        state.context,
        state.secrets.membership_key,
        confirmation_tag=bytes(32),
    )
    return serialize(MLSMessage(message))


def test_committer_leaves_out_a_pending_proposal_to_remove_itself() -> None:
    alice, bob, _ = _three()
    bob.process(alice.propose_remove(bob.own_leaf))
    out = bob.commit()
    bob.merge_pending_commit()
    alice.process(out.message)
    assert bob.own_leaf in alice.members()
    assert alice.epoch_authenticator == bob.epoch_authenticator


def test_received_commit_removing_its_committer_is_rejected() -> None:
    alice, bob, _ = _three(encrypt_handshake=False)
    commit = Commit((ProposalOrRef(Proposal(Remove(bob.own_leaf))),))
    _rejects(alice, _crafted_commit(bob, commit), InvalidProposal)


def test_received_commit_naming_an_unknown_proposal_is_rejected() -> None:
    alice, bob, _ = _three(encrypt_handshake=False)
    commit = Commit((ProposalOrRef(bytes(32)),))
    _rejects(alice, _crafted_commit(bob, commit), InvalidProposal)


def test_received_commit_missing_a_required_path_is_rejected() -> None:
    alice, bob, carol = _three(encrypt_handshake=False)
    commit = Commit((ProposalOrRef(Proposal(Remove(carol.own_leaf))),))
    _rejects(alice, _crafted_commit(bob, commit), InvalidCommit)


def test_received_commit_removing_the_same_leaf_twice_is_rejected() -> None:
    alice, bob, carol = _three(encrypt_handshake=False)
    remove = ProposalOrRef(Proposal(Remove(carol.own_leaf)))
    _rejects(alice, _crafted_commit(bob, Commit((remove, remove))), InvalidProposal)


def test_inline_proposal_removing_the_committer_is_refused_at_creation() -> None:
    _, bob, _ = _three()
    before = bob.state
    with pytest.raises(InvalidProposal):
        bob.commit(remove=[bob.own_leaf])
    assert bob.state is before


def test_reinit_closes_the_group_for_everyone() -> None:
    alice, bob, _ = _three()
    bob.process(alice.propose_reinit(b"group-1-v2"))
    out = bob.commit(with_path=False)
    bob.merge_pending_commit()
    alice.process(out.message)
    for member in (alice, bob):
        with pytest.raises(GroupClosed):
            member.encrypt(b"too late")


def test_welcome_with_a_forged_group_info_signature_is_rejected() -> None:
    alice = new_group()
    joiner = bundle("bob")
    alice.commit(add=[joiner.key_package])
    pending = alice._pending_commit
    assert pending is not None
    state = pending.state
    other_priv, _ = SUITE.generate_signature_key_pair()
    forged_info = group_info(state, external_pub=False).signed(SUITE, other_priv)
    secrets = GroupSecrets(state.secrets.joiner_secret, None, ())
    welcome = create_welcome(
        SUITE, state.secrets.welcome_secret, forged_info, [(joiner.key_package, secrets)]
    )
    with pytest.raises(InvalidWelcome):
        Group.join(serialize(MLSMessage(welcome)), joiner, config())


def test_welcome_for_another_key_package_is_rejected() -> None:
    alice = new_group()
    out = alice.commit(add=[bundle("bob").key_package])
    assert out.welcome is not None
    with pytest.raises(InvalidWelcome):
        Group.join(out.welcome, bundle("mallory"), config())


def test_external_commit_removing_another_member_is_rejected() -> None:
    alice, _, carol = _three()
    _, commit = Group.join_external(
        alice.group_info(), bundle("mallory"), config(), resync_leaf=carol.own_leaf
    )
    _rejects(alice, commit, InvalidCommit)


def test_external_join_needs_the_external_public_key() -> None:
    alice, _, _ = _three()
    with pytest.raises(InvalidWelcome):
        Group.join_external(alice.group_info(external_pub=False), bundle("dave"), config())
