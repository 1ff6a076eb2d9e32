"""Message protection rules: what a receiver must refuse, and that refusing changes nothing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing import (
    protect_private,
    protect_public,
    unprotect_private,
    unprotect_public,
)
from sottovoce.mls._framing_structs import (
    Content,
    FramedContent,
    PrivateMessage,
    PublicMessage,
    Sender,
    SenderType,
)
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._proposals import Proposal, Remove
from sottovoce.mls._secret_tree import SecretTree
from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import (
    CryptoError,
    DecodeError,
    GenerationError,
    InvalidSignature,
    MLSError,
    UnknownSender,
    ValidationError,
    WrongEpoch,
    WrongGroup,
)

SUITE = get_suite(1)
CONTEXT = GroupContext(1, b"group", 7, b"\x01" * 32, b"\x02" * 32)
ENCRYPTION_SECRET = b"\x03" * 32
SENDER_DATA_SECRET = b"\x04" * 32
MEMBERSHIP_KEY = b"\x05" * 32
ALICE, BOB = 0, 1
KEYS = {ALICE: SUITE.generate_signature_key_pair(), BOB: SUITE.generate_signature_key_pair()}
REMOVE = Proposal(Remove(3))


def signature_key(content: FramedContent) -> bytes:
    try:
        return KEYS[content.sender.index][1]
    except KeyError:
        raise UnknownSender(f"no member at leaf {content.sender.index}") from None


def tree() -> SecretTree:
    return SecretTree.create(SUITE, ENCRYPTION_SECRET, 4)


def framed(content: Content, sender: int = ALICE, authenticated_data: bytes = b"") -> FramedContent:
    return FramedContent(
        CONTEXT.group_id, CONTEXT.epoch, Sender.member(sender), authenticated_data, content
    )


def seal(
    content: Content, sender: int = ALICE, confirmation_tag: bytes | None = None
) -> PrivateMessage:
    message, _ = protect_private(
        SUITE,
        KEYS[sender][0],
        framed(content, sender),
        CONTEXT,
        tree(),
        SENDER_DATA_SECRET,
        confirmation_tag=confirmation_tag,
    )
    return message


def open_private(
    message: PrivateMessage, receiver_tree: SecretTree | None = None
) -> tuple[Content, SecretTree]:
    authenticated, after = unprotect_private(
        SUITE,
        message,
        CONTEXT,
        receiver_tree or tree(),
        SENDER_DATA_SECRET,
        signature_key,
    )
    return authenticated.content.content, after


@settings(max_examples=25)
@given(body=st.binary(max_size=200), padding=st.integers(0, 64), aad=st.binary(max_size=16))
def test_application_message_round_trips_through_the_wire(
    body: bytes, padding: int, aad: bytes
) -> None:
    message, _ = protect_private(
        SUITE,
        KEYS[BOB][0],
        framed(body, BOB, aad),
        CONTEXT,
        tree(),
        SENDER_DATA_SECRET,
        padding=padding,
    )
    wire = decode_all(serialize(message), PrivateMessage.decode)
    authenticated, _ = unprotect_private(
        SUITE, wire, CONTEXT, tree(), SENDER_DATA_SECRET, signature_key
    )
    assert authenticated.content == framed(body, BOB, aad)


def test_replayed_private_message_is_refused() -> None:
    message = seal(b"hello")
    _, after = open_private(message)
    with pytest.raises(GenerationError):
        open_private(message, after)


def test_rejected_message_leaves_the_secret_tree_usable() -> None:
    message = seal(b"hello")
    tampered = dataclasses.replace(message, ciphertext=message.ciphertext[:-1] + b"\x00")
    receiver = tree()
    with pytest.raises(CryptoError):
        open_private(tampered, receiver)
    assert open_private(message, receiver)[0] == b"hello"


def test_tampered_authenticated_data_is_refused() -> None:
    message = seal(b"hello")
    with pytest.raises(CryptoError):
        open_private(dataclasses.replace(message, authenticated_data=b"x"))


def test_tampered_sender_data_is_refused() -> None:
    message = seal(b"hello")
    flipped = bytes([message.encrypted_sender_data[0] ^ 1]) + message.encrypted_sender_data[1:]
    with pytest.raises(CryptoError):
        open_private(dataclasses.replace(message, encrypted_sender_data=flipped))


def test_impersonating_another_member_fails_the_signature_check() -> None:
    # Bob's keys sign a message claiming to come from Alice's leaf.
    message, _ = protect_private(
        SUITE, KEYS[BOB][0], framed(b"hi", ALICE), CONTEXT, tree(), SENDER_DATA_SECRET
    )
    with pytest.raises(InvalidSignature):
        open_private(message)


def test_sender_outside_the_group_is_unknown() -> None:
    message, _ = protect_private(
        SUITE, KEYS[ALICE][0], framed(b"hi", 2), CONTEXT, tree(), SENDER_DATA_SECRET
    )
    with pytest.raises(UnknownSender):
        open_private(message)


def test_message_for_another_epoch_is_refused() -> None:
    message = seal(b"hello")
    with pytest.raises(WrongEpoch):
        open_private(dataclasses.replace(message, epoch=CONTEXT.epoch + 1))


def test_message_for_another_group_is_refused() -> None:
    message = seal(b"hello")
    with pytest.raises(WrongGroup):
        open_private(dataclasses.replace(message, group_id=b"other"))


def test_same_guard_gives_different_ciphertext_per_generation() -> None:
    sender = tree()
    first, sender = protect_private(
        SUITE,
        KEYS[ALICE][0],
        framed(b"same"),
        CONTEXT,
        sender,
        SENDER_DATA_SECRET,
        reuse_guard=b"\x00" * 4,
    )
    second, _ = protect_private(
        SUITE,
        KEYS[ALICE][0],
        framed(b"same"),
        CONTEXT,
        sender,
        SENDER_DATA_SECRET,
        reuse_guard=b"\x00" * 4,
    )
    assert first.ciphertext != second.ciphertext


def test_handshake_message_round_trips_privately() -> None:
    assert open_private(seal(REMOVE))[0] == REMOVE


def test_confirmation_tag_goes_only_with_commits() -> None:
    with pytest.raises(ValidationError):
        seal(REMOVE, confirmation_tag=b"\x00" * 32)


def protect_remove(sender: int = ALICE) -> PublicMessage:
    return protect_public(SUITE, KEYS[sender][0], framed(REMOVE, sender), CONTEXT, MEMBERSHIP_KEY)


def open_public(message: PublicMessage, membership_key: bytes = MEMBERSHIP_KEY) -> Content:
    authenticated = unprotect_public(SUITE, message, CONTEXT, membership_key, signature_key)
    return authenticated.content.content


def test_public_proposal_round_trips() -> None:
    assert open_public(protect_remove()) == REMOVE


def test_public_message_from_a_former_member_fails_the_membership_tag() -> None:
    with pytest.raises(InvalidSignature, match="membership tag"):
        open_public(protect_remove(), membership_key=b"\x06" * 32)


def test_public_message_with_altered_content_is_refused() -> None:
    message = protect_remove()
    altered = dataclasses.replace(
        message, content=dataclasses.replace(message.content, content=Proposal(Remove(2)))
    )
    with pytest.raises(InvalidSignature):
        open_public(altered)


def test_application_data_may_not_travel_in_public() -> None:
    with pytest.raises(ValidationError):
        protect_public(SUITE, KEYS[ALICE][0], framed(b"x"), CONTEXT, MEMBERSHIP_KEY)
    forged = PublicMessage(framed(b"x"), protect_remove().auth, b"\x00" * 32)
    with pytest.raises(ValidationError):
        open_public(forged)


def test_non_members_send_no_membership_tag() -> None:
    external = FramedContent(
        CONTEXT.group_id, CONTEXT.epoch, Sender(SenderType.EXTERNAL, 0), b"", REMOVE
    )
    with pytest.raises(ValidationError):
        protect_public(SUITE, KEYS[ALICE][0], external, CONTEXT, MEMBERSHIP_KEY)
    message = protect_public(SUITE, KEYS[ALICE][0], external, CONTEXT, None)
    assert message.membership_tag is None
    assert open_public(message) == REMOVE


def non_member(sender_type: SenderType, content: Content) -> FramedContent:
    return FramedContent(CONTEXT.group_id, CONTEXT.epoch, Sender(sender_type), b"", content)


@pytest.mark.parametrize("sender_type", [SenderType.EXTERNAL, SenderType.NEW_MEMBER_PROPOSAL])
def test_proposing_non_members_may_not_commit(sender_type: SenderType) -> None:
    content = non_member(sender_type, Commit(()))
    with pytest.raises(ValidationError, match="may only send proposal"):
        protect_public(SUITE, KEYS[ALICE][0], content, CONTEXT, None, b"\x00" * 32)


def test_external_committer_may_only_commit() -> None:
    content = non_member(SenderType.NEW_MEMBER_COMMIT, REMOVE)
    with pytest.raises(ValidationError, match="may only send commit"):
        protect_public(SUITE, KEYS[ALICE][0], content, CONTEXT, None)


VALID_WIRE = serialize(seal(b"hello"))


@settings(max_examples=200)
@given(position=st.integers(0, len(VALID_WIRE) - 1), flip=st.integers(1, 255))
def test_any_corrupted_byte_is_refused_with_an_mls_error(position: int, flip: int) -> None:
    corrupted = bytearray(VALID_WIRE)
    corrupted[position] ^= flip
    with pytest.raises(MLSError):
        open_private(decode_all(bytes(corrupted), PrivateMessage.decode))


@given(cut=st.integers(0, len(VALID_WIRE) - 1))
def test_truncated_message_is_refused_with_a_decode_error(cut: int) -> None:
    with pytest.raises(DecodeError):
        decode_all(VALID_WIRE[:cut], PrivateMessage.decode)
