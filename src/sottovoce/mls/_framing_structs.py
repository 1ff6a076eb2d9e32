"""Message framing structures (RFC 9420 section 6) and the MLSMessage envelope.

Only encodings live here; signing, membership tags and encryption are in ``_framing``. The
content of a FramedContent is ``bytes`` (application data), a ``Proposal`` or a ``Commit``, and
its ContentType follows from that, so the tag cannot disagree with the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from sottovoce.mls._codec import Encodable, Reader, Writer, read_enum
from sottovoce.mls._commit import Commit
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._proposals import Proposal
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._welcome import GroupInfo, Welcome
from sottovoce.mls.errors import DecodeError

__all__ = [
    "AuthenticatedContent",
    "Content",
    "ContentType",
    "FramedContent",
    "FramedContentAuthData",
    "FramedContentTBS",
    "MLSMessage",
    "PrivateMessage",
    "PrivateMessageContent",
    "ProtocolVersion",
    "PublicMessage",
    "Sender",
    "SenderData",
    "SenderType",
    "WireFormat",
]


class ContentType(IntEnum):
    APPLICATION = 1
    PROPOSAL = 2
    COMMIT = 3


class SenderType(IntEnum):
    """Who sent a message (RFC 9420 section 6): a member, an external sender, or a joiner's
    own proposal or external commit."""

    MEMBER = 1
    EXTERNAL = 2
    NEW_MEMBER_PROPOSAL = 3
    NEW_MEMBER_COMMIT = 4


class WireFormat(IntEnum):
    PUBLIC_MESSAGE = 1
    PRIVATE_MESSAGE = 2
    WELCOME = 3
    GROUP_INFO = 4
    KEY_PACKAGE = 5


Content = bytes | Proposal | Commit


def content_type_of(content: Content) -> ContentType:
    if isinstance(content, Proposal):
        return ContentType.PROPOSAL
    if isinstance(content, Commit):
        return ContentType.COMMIT
    return ContentType.APPLICATION


def encode_content(w: Writer, content: Content) -> None:
    if isinstance(content, bytes):
        w.opaque(content)
    else:
        content.encode(w)


def _decode_content(r: Reader, content_type: ContentType) -> Content:
    if content_type is ContentType.APPLICATION:
        return r.opaque()
    if content_type is ContentType.PROPOSAL:
        return Proposal.decode(r)
    return Commit.decode(r)


@dataclass(frozen=True, slots=True)
class Sender:
    """``index`` is the leaf index of a member or the external-senders index of an external one."""

    sender_type: SenderType
    index: int = 0

    def encode(self, w: Writer) -> None:
        w.u8(self.sender_type)
        if self.sender_type in (SenderType.MEMBER, SenderType.EXTERNAL):
            w.u32(self.index)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        sender_type = read_enum(r.u8(), SenderType)
        if sender_type in (SenderType.MEMBER, SenderType.EXTERNAL):
            return cls(sender_type, r.u32())
        return cls(sender_type)

    @classmethod
    def member(cls, leaf_index: int) -> Self:
        """The member at ``leaf_index``."""
        return cls(SenderType.MEMBER, leaf_index)


@dataclass(frozen=True, slots=True)
class FramedContent:
    group_id: bytes
    epoch: int
    sender: Sender
    authenticated_data: bytes
    content: Content

    @property
    def content_type(self) -> ContentType:
        return content_type_of(self.content)

    def encode(self, w: Writer) -> None:
        w.opaque(self.group_id).u64(self.epoch)
        self.sender.encode(w)
        w.opaque(self.authenticated_data).u8(self.content_type)
        encode_content(w, self.content)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        group_id = r.opaque()
        epoch = r.u64()
        sender = Sender.decode(r)
        authenticated_data = r.opaque()
        content_type = read_enum(r.u8(), ContentType)
        return cls(group_id, epoch, sender, authenticated_data, _decode_content(r, content_type))


@dataclass(frozen=True, slots=True)
class FramedContentAuthData:
    """The signature, and for commits the confirmation tag (``None`` for other content)."""

    signature: bytes
    confirmation_tag: bytes | None = None

    def encode(self, w: Writer) -> None:
        w.opaque(self.signature)
        if self.confirmation_tag is not None:
            w.opaque(self.confirmation_tag)

    @classmethod
    def decode(cls, r: Reader, content_type: ContentType) -> Self:
        signature = r.opaque()
        if content_type is ContentType.COMMIT:
            return cls(signature, r.opaque())
        return cls(signature)


@dataclass(frozen=True, slots=True)
class FramedContentTBS:
    """What a FramedContent signature covers; ``context`` is the GroupContext for member and
    new-member-commit senders, ``None`` otherwise. Never decoded: only ever built to be signed."""

    wire_format: WireFormat
    content: FramedContent
    context: Encodable | None

    def encode(self, w: Writer) -> None:
        w.u16(ProtocolVersion.MLS10).u16(self.wire_format)
        self.content.encode(w)
        if self.context is not None:
            self.context.encode(w)


@dataclass(frozen=True, slots=True)
class AuthenticatedContent:
    wire_format: WireFormat
    content: FramedContent
    auth: FramedContentAuthData

    def encode(self, w: Writer) -> None:
        w.u16(self.wire_format)
        self.content.encode(w)
        self.auth.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        wire_format = read_enum(r.u16(), WireFormat)
        content = FramedContent.decode(r)
        return cls(wire_format, content, FramedContentAuthData.decode(r, content.content_type))


@dataclass(frozen=True, slots=True)
class PublicMessage:
    """``membership_tag`` is present exactly when the sender is a member."""

    content: FramedContent
    auth: FramedContentAuthData
    membership_tag: bytes | None = None

    def encode(self, w: Writer) -> None:
        self.content.encode(w)
        self.auth.encode(w)
        if self.membership_tag is not None:
            w.opaque(self.membership_tag)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        content = FramedContent.decode(r)
        auth = FramedContentAuthData.decode(r, content.content_type)
        if content.sender.sender_type is SenderType.MEMBER:
            return cls(content, auth, r.opaque())
        return cls(content, auth)


@dataclass(frozen=True, slots=True)
class PrivateMessage:
    group_id: bytes
    epoch: int
    content_type: ContentType
    authenticated_data: bytes
    encrypted_sender_data: bytes
    ciphertext: bytes

    def encode(self, w: Writer) -> None:
        w.opaque(self.group_id).u64(self.epoch).u8(self.content_type)
        w.opaque(self.authenticated_data).opaque(self.encrypted_sender_data)
        w.opaque(self.ciphertext)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        group_id = r.opaque()
        epoch = r.u64()
        content_type = read_enum(r.u8(), ContentType)
        authenticated_data = r.opaque()
        encrypted_sender_data = r.opaque()
        return cls(
            group_id, epoch, content_type, authenticated_data, encrypted_sender_data, r.opaque()
        )


@dataclass(frozen=True, slots=True)
class PrivateMessageContent:
    """The plaintext of a PrivateMessage; ``padding`` counts the zero bytes after ``auth``."""

    content: Content
    auth: FramedContentAuthData
    padding: int = 0

    def encode(self, w: Writer) -> None:
        encode_content(w, self.content)
        self.auth.encode(w)
        w.raw(bytes(self.padding))

    @classmethod
    def decode(cls, r: Reader, content_type: ContentType) -> Self:
        content = _decode_content(r, content_type)
        auth = FramedContentAuthData.decode(r, content_type)
        padding = r.raw(r.remaining)
        if any(padding):
            raise DecodeError("PrivateMessageContent padding must be all zero bytes")
        return cls(content, auth, len(padding))


@dataclass(frozen=True, slots=True)
class SenderData:
    leaf_index: int
    generation: int
    reuse_guard: bytes

    def encode(self, w: Writer) -> None:
        w.u32(self.leaf_index).u32(self.generation).raw(self.reuse_guard)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u32(), r.u32(), r.raw(4))


MessageBody = PublicMessage | PrivateMessage | Welcome | GroupInfo | KeyPackage

_WIRE_FORMATS: dict[type[MessageBody], WireFormat] = {
    PublicMessage: WireFormat.PUBLIC_MESSAGE,
    PrivateMessage: WireFormat.PRIVATE_MESSAGE,
    Welcome: WireFormat.WELCOME,
    GroupInfo: WireFormat.GROUP_INFO,
    KeyPackage: WireFormat.KEY_PACKAGE,
}
_BODY_TYPES = {wire_format: body for body, wire_format in _WIRE_FORMATS.items()}


@dataclass(frozen=True, slots=True)
class MLSMessage:
    """The envelope every MLS message travels in; the wire format follows from the body."""

    body: MessageBody

    @property
    def wire_format(self) -> WireFormat:
        return _WIRE_FORMATS[type(self.body)]

    def encode(self, w: Writer) -> None:
        w.u16(ProtocolVersion.MLS10).u16(self.wire_format)
        self.body.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        read_enum(r.u16(), ProtocolVersion)
        wire_format = read_enum(r.u16(), WireFormat)
        return cls(_BODY_TYPES[wire_format].decode(r))
