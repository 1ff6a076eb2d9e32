"""Protecting and unprotecting framed content (RFC 9420 section 6).

PublicMessage: signed, plus a membership tag for member senders. PrivateMessage: signed, then
encrypted under the sender's secret-tree ratchet, with the sender's identity and generation
encrypted separately under the epoch's sender data secret.

A signature key is resolved by the caller from the (authenticated) FramedContent, because only
the group knows who a sender is. Unprotecting a PrivateMessage returns the advanced secret tree;
the caller keeps it only if it accepts the message.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from sottovoce.mls._codec import Reader, Writer, decode_all, serialize
from sottovoce.mls._framing_structs import (
    AuthenticatedContent,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    FramedContentTBS,
    PrivateMessage,
    PrivateMessageContent,
    PublicMessage,
    Sender,
    SenderData,
    SenderType,
    WireFormat,
)
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_schedule import sender_data_key_and_nonce
from sottovoce.mls._secret_tree import RatchetKind, SecretTree
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls.errors import InvalidSignature, ValidationError, WrongEpoch, WrongGroup

SignatureKeyLookup = Callable[[FramedContent], bytes]
"""The sender's signature public key; raises ``UnknownSender`` for a sender not in the group."""

_REUSE_GUARD_LEN = 4


def _tbs(
    wire_format: WireFormat, content: FramedContent, group_context: GroupContext
) -> FramedContentTBS:
    # External senders and new-member proposals sign without the GroupContext (section 6.1).
    with_context = content.sender.sender_type in (SenderType.MEMBER, SenderType.NEW_MEMBER_COMMIT)
    return FramedContentTBS(wire_format, content, group_context if with_context else None)


def _check_confirmation_tag(content: FramedContent, confirmation_tag: bytes | None) -> None:
    if (content.content_type is ContentType.COMMIT) != (confirmation_tag is not None):
        raise ValidationError("a confirmation tag goes with commit content, and only with it")


def sign_content(
    suite: CipherSuite,
    signature_priv: bytes,
    wire_format: WireFormat,
    content: FramedContent,
    group_context: GroupContext,
    confirmation_tag: bytes | None = None,
) -> AuthenticatedContent:
    """Sign ``content`` (section 6.1); commits need their ``confirmation_tag``."""
    _check_confirmation_tag(content, confirmation_tag)
    tbs = serialize(_tbs(wire_format, content, group_context))
    signature = suite.sign_with_label(signature_priv, b"FramedContentTBS", tbs)
    return AuthenticatedContent(
        wire_format, content, FramedContentAuthData(signature, confirmation_tag)
    )


def verify_content_signature(
    suite: CipherSuite,
    signature_pub: bytes,
    authenticated: AuthenticatedContent,
    group_context: GroupContext,
) -> None:
    tbs = serialize(_tbs(authenticated.wire_format, authenticated.content, group_context))
    if not suite.verify_with_label(
        signature_pub, b"FramedContentTBS", tbs, authenticated.auth.signature
    ):
        raise InvalidSignature("FramedContent signature does not verify with the sender's key")


def _check_epoch(group_id: bytes, epoch: int, group_context: GroupContext) -> None:
    if group_id != group_context.group_id:
        raise WrongGroup("message is for another group")
    if epoch != group_context.epoch:
        raise WrongEpoch(f"message is for epoch {epoch}, the group is at {group_context.epoch}")


def _membership_tag(
    suite: CipherSuite,
    membership_key: bytes,
    authenticated: AuthenticatedContent,
    group_context: GroupContext,
) -> bytes:
    w = Writer()
    _tbs(authenticated.wire_format, authenticated.content, group_context).encode(w)
    authenticated.auth.encode(w)
    return suite.mac(membership_key, w.bytes())


# What each non-member sender may send (RFC 9420 sections 6, 12.1.8 and 12.4.3.2).
_NON_MEMBER_CONTENT = {
    SenderType.EXTERNAL: ContentType.PROPOSAL,
    SenderType.NEW_MEMBER_PROPOSAL: ContentType.PROPOSAL,
    SenderType.NEW_MEMBER_COMMIT: ContentType.COMMIT,
}


def _check_public_content(content: FramedContent) -> None:
    if content.content_type is ContentType.APPLICATION:
        raise ValidationError("application data must be sent as a PrivateMessage")
    allowed = _NON_MEMBER_CONTENT.get(content.sender.sender_type)
    if allowed is not None and content.content_type is not allowed:
        raise ValidationError(
            f"a {content.sender.sender_type.name.lower()} sender may only send "
            f"{allowed.name.lower()} content"
        )


def protect_public(
    suite: CipherSuite,
    signature_priv: bytes,
    content: FramedContent,
    group_context: GroupContext,
    membership_key: bytes | None,
    confirmation_tag: bytes | None = None,
) -> PublicMessage:
    """Sign ``content`` into a PublicMessage; member senders also need ``membership_key``."""
    _check_public_content(content)
    is_member = content.sender.sender_type is SenderType.MEMBER
    if is_member != (membership_key is not None):
        raise ValidationError("a membership key is needed exactly for member senders")
    authenticated = sign_content(
        suite, signature_priv, WireFormat.PUBLIC_MESSAGE, content, group_context, confirmation_tag
    )
    tag = None
    if membership_key is not None:
        tag = _membership_tag(suite, membership_key, authenticated, group_context)
    return PublicMessage(content, authenticated.auth, tag)


def unprotect_public(
    suite: CipherSuite,
    message: PublicMessage,
    group_context: GroupContext,
    membership_key: bytes,
    signature_key: SignatureKeyLookup,
) -> AuthenticatedContent:
    """Check group, epoch, membership tag and signature; return the authenticated content."""
    content = message.content
    _check_epoch(content.group_id, content.epoch, group_context)
    _check_public_content(content)
    authenticated = AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, content, message.auth)
    if content.sender.sender_type is SenderType.MEMBER:
        expected = _membership_tag(suite, membership_key, authenticated, group_context)
        if message.membership_tag is None or not hmac.compare_digest(
            expected, message.membership_tag
        ):
            raise InvalidSignature("membership tag does not verify: not from a current member")
    verify_content_signature(suite, signature_key(content), authenticated, group_context)
    return authenticated


def _ratchet_kind(content_type: ContentType) -> RatchetKind:
    if content_type is ContentType.APPLICATION:
        return RatchetKind.APPLICATION
    return RatchetKind.HANDSHAKE


def _apply_reuse_guard(nonce: bytes, reuse_guard: bytes) -> bytes:
    head = int.from_bytes(nonce[:_REUSE_GUARD_LEN], "big") ^ int.from_bytes(reuse_guard, "big")
    return head.to_bytes(_REUSE_GUARD_LEN, "big") + nonce[_REUSE_GUARD_LEN:]


def _content_aad(
    group_id: bytes, epoch: int, content_type: ContentType, authenticated_data: bytes
) -> bytes:
    w = Writer().opaque(group_id).u64(epoch).u8(content_type)
    return w.opaque(authenticated_data).bytes()


def _sender_data_aad(group_id: bytes, epoch: int, content_type: ContentType) -> bytes:
    return Writer().opaque(group_id).u64(epoch).u8(content_type).bytes()


def protect_private(
    suite: CipherSuite,
    signature_priv: bytes,
    content: FramedContent,
    group_context: GroupContext,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    *,
    confirmation_tag: bytes | None = None,
    padding: int = 0,
    reuse_guard: bytes | None = None,
) -> tuple[PrivateMessage, SecretTree]:
    """Sign and encrypt ``content`` from a member; returns the message and the advanced tree.

    ``padding`` zero bytes hide the content length; ``reuse_guard`` is random unless given.
    """
    sender = content.sender
    if sender.sender_type is not SenderType.MEMBER:
        raise ValidationError("only members send PrivateMessages")
    if padding < 0:
        raise ValueError("padding must not be negative")
    guard = secrets.token_bytes(_REUSE_GUARD_LEN) if reuse_guard is None else reuse_guard
    if len(guard) != _REUSE_GUARD_LEN:
        raise ValueError("reuse guard is 4 bytes")
    authenticated = sign_content(
        suite,
        signature_priv,
        WireFormat.PRIVATE_MESSAGE,
        content,
        group_context,
        confirmation_tag,
    )
    content_type = content.content_type
    key, tree = secret_tree.next_key(sender.index, _ratchet_kind(content_type))
    plaintext = serialize(PrivateMessageContent(content.content, authenticated.auth, padding))
    ciphertext = suite.seal(
        key.key,
        _apply_reuse_guard(key.nonce, guard),
        _content_aad(content.group_id, content.epoch, content_type, content.authenticated_data),
        plaintext,
    )
    sender_data = serialize(SenderData(sender.index, key.generation, guard))
    sd_key, sd_nonce = sender_data_key_and_nonce(suite, sender_data_secret, ciphertext)
    encrypted_sender_data = suite.seal(
        sd_key,
        sd_nonce,
        _sender_data_aad(content.group_id, content.epoch, content_type),
        sender_data,
    )
    message = PrivateMessage(
        content.group_id,
        content.epoch,
        content_type,
        content.authenticated_data,
        encrypted_sender_data,
        ciphertext,
    )
    return message, tree


def unprotect_private(
    suite: CipherSuite,
    message: PrivateMessage,
    group_context: GroupContext,
    secret_tree: SecretTree,
    sender_data_secret: bytes,
    signature_key: SignatureKeyLookup,
) -> tuple[AuthenticatedContent, SecretTree]:
    """Decrypt and verify; returns the content and the secret tree without the used key."""
    _check_epoch(message.group_id, message.epoch, group_context)
    content_type = message.content_type
    sd_key, sd_nonce = sender_data_key_and_nonce(suite, sender_data_secret, message.ciphertext)
    sender_data = decode_all(
        suite.open(
            sd_key,
            sd_nonce,
            _sender_data_aad(message.group_id, message.epoch, content_type),
            message.encrypted_sender_data,
        ),
        SenderData.decode,
    )
    key, tree = secret_tree.key_for(
        sender_data.leaf_index, _ratchet_kind(content_type), sender_data.generation
    )
    plaintext = suite.open(
        key.key,
        _apply_reuse_guard(key.nonce, sender_data.reuse_guard),
        _content_aad(message.group_id, message.epoch, content_type, message.authenticated_data),
        message.ciphertext,
    )

    def read_content(r: Reader) -> PrivateMessageContent:
        return PrivateMessageContent.decode(r, content_type)

    private_content = decode_all(plaintext, read_content)
    framed = FramedContent(
        message.group_id,
        message.epoch,
        Sender.member(sender_data.leaf_index),
        message.authenticated_data,
        private_content.content,
    )
    authenticated = AuthenticatedContent(WireFormat.PRIVATE_MESSAGE, framed, private_content.auth)
    verify_content_signature(suite, signature_key(framed), authenticated, group_context)
    return authenticated, tree
