"""Proposals from external senders (RFC 9420 section 12.1.8.1): a party outside the group,
listed in its external_senders extension, proposes; members accept and commit it."""

from __future__ import annotations

import pytest

from sottovoce.mls import (
    ExternalSender,
    external_add_proposal,
    external_remove_proposal,
    external_senders_extension,
)
from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._external_senders import external_proposal
from sottovoce.mls._framing import sign_content
from sottovoce.mls._framing_structs import (
    FramedContent,
    MLSMessage,
    PublicMessage,
    Sender,
    SenderType,
    WireFormat,
)
from sottovoce.mls._group import Group, ProposalReceived
from sottovoce.mls._group_state import GroupConfig
from sottovoce.mls._proposals import Proposal, Update
from sottovoce.mls._tree_structs import Credential, Extension, ExtensionType
from sottovoce.mls._welcome import GroupInfo
from sottovoce.mls.errors import (
    CredentialRejected,
    InvalidProposal,
    InvalidSignature,
    MLSError,
    UnknownSender,
)
from tests.mls.group_helpers import (
    NOW,
    SUITE,
    add_members,
    assert_same_epoch,
    bundle,
    config,
)

DS_PRIV, DS_PUB = SUITE.generate_signature_key_pair()
DS = ExternalSender(DS_PUB, Credential.basic(b"delivery-service"))


def _group_with_ds(extra: tuple[ExternalSender, ...] = ()) -> tuple[Group, Group, Group]:
    extensions = (external_senders_extension([DS, *extra]),)
    alice = Group.create(b"group-1", bundle("alice"), config(), extensions)
    bob, carol = add_members(alice, [], ["bob", "carol"])
    return alice, bob, carol


def _deliver(message: bytes, members: list[Group]) -> None:
    for member in members:
        received = member.process(message)
        assert isinstance(received, ProposalReceived)
        assert received.sender.sender_type is SenderType.EXTERNAL
        assert received.sender.index == 0


def _rejected(group: Group, message: bytes, error: type[MLSError]) -> None:
    before = group.to_bytes()
    with pytest.raises(error):
        group.process(message)
    assert group.to_bytes() == before


def test_external_remove_is_committed_by_a_member() -> None:
    alice, bob, carol = _group_with_ds()
    proposal = external_remove_proposal(alice.group_info(), 0, DS_PRIV, bob.own_leaf)
    _deliver(proposal, [alice, bob, carol])
    out = carol.commit()
    carol.merge_pending_commit()
    assert alice.process(out.message).removed == (bob.own_leaf,)
    assert bob.process(out.message).removed_self
    assert_same_epoch([alice, carol])
    assert {c.identity for c in alice.members().values()} == {b"alice", b"carol"}


def test_external_add_brings_in_a_new_member() -> None:
    alice, bob, carol = _group_with_ds()
    dave = bundle("dave")
    proposal = external_add_proposal(bob.group_info(), 0, DS_PRIV, dave.key_package)
    _deliver(proposal, [alice, bob, carol])
    out = bob.commit()
    bob.merge_pending_commit()
    alice.process(out.message)
    carol.process(out.message)
    assert out.welcome is not None
    joined = Group.join(out.welcome, dave, config())
    assert_same_epoch([alice, bob, carol, joined])


def test_external_sender_added_later_by_a_group_context_extensions_commit() -> None:
    alice = Group.create(b"group-1", bundle("alice"), config())
    (bob,) = add_members(alice, [], ["bob"])
    proposal = external_remove_proposal(alice.group_info(), 0, DS_PRIV, bob.own_leaf)
    _rejected(alice, proposal, UnknownSender)
    out = alice.commit(extensions=(external_senders_extension([DS]),))
    alice.merge_pending_commit()
    bob.process(out.message)
    proposal = external_remove_proposal(alice.group_info(), 0, DS_PRIV, bob.own_leaf)
    _deliver(proposal, [alice])


def test_unlisted_sender_index_is_refused() -> None:
    alice, _, _ = _group_with_ds()
    _rejected(alice, external_remove_proposal(alice.group_info(), 1, DS_PRIV, 1), UnknownSender)


def test_proposal_signed_with_another_key_is_refused() -> None:
    alice, _, _ = _group_with_ds()
    impostor_priv, _ = SUITE.generate_signature_key_pair()
    message = external_remove_proposal(alice.group_info(), 0, impostor_priv, 1)
    _rejected(alice, message, InvalidSignature)


def test_second_listed_sender_signs_with_its_own_key() -> None:
    other_priv, other_pub = SUITE.generate_signature_key_pair()
    other = ExternalSender(other_pub, Credential.basic(b"moderation-bot"))
    alice, bob, _ = _group_with_ds((other,))
    _rejected(alice, external_remove_proposal(alice.group_info(), 1, DS_PRIV, 1), InvalidSignature)
    received = alice.process(external_remove_proposal(alice.group_info(), 1, other_priv, 1))
    assert isinstance(received, ProposalReceived)
    assert received.sender.index == 1
    assert bob.epoch == alice.epoch


def test_external_sender_whose_credential_the_application_rejects() -> None:
    alice, _, _ = _group_with_ds()
    wary = GroupConfig(
        lambda credential, _: credential.identity != b"delivery-service", clock=lambda: NOW
    )
    alice = Group.from_bytes(alice.to_bytes(), wary)
    message = external_remove_proposal(alice.group_info(), 0, DS_PRIV, 1)
    _rejected(alice, message, CredentialRejected)


def test_external_update_is_refused_by_sender_and_members() -> None:
    alice, bob, _ = _group_with_ds()
    info = decode_all(alice.group_info(), MLSMessage.decode).body
    assert isinstance(info, GroupInfo)
    leaf = bob.state.tree.leaf(bob.own_leaf)
    assert leaf is not None
    update = Proposal(Update(leaf))
    with pytest.raises(InvalidProposal):
        external_proposal(info, 0, DS_PRIV, update)
    # The same proposal signed by hand, as a misbehaving external sender would.
    content = FramedContent(
        alice.group_id, alice.epoch, Sender(SenderType.EXTERNAL, 0), b"", update
    )
    signed = sign_content(SUITE, DS_PRIV, WireFormat.PUBLIC_MESSAGE, content, alice.state.context)
    message = serialize(MLSMessage(PublicMessage(content, signed.auth)))
    _rejected(alice, message, InvalidProposal)


def test_malformed_external_senders_extension_is_refused() -> None:
    broken = Extension(ExtensionType.EXTERNAL_SENDERS, b"\x05abc")
    with pytest.raises(InvalidProposal):
        Group.create(b"group-1", bundle("alice"), config(), (broken,))
