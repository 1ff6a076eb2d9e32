"""The MLS Delivery Service rules (RFC 9420 section 2.2), sans-I/O.

The server reads only the cleartext header of a message body: wire format, group id, epoch and
content type. A room is one MLS group whose id is the room id in UTF-8; the room accepts exactly
one commit per epoch (the first to be stored) and application messages and proposals only for
its current epoch. Everything else a body holds stays opaque.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sottovoce.core.errors import BadRequest, StaleEpoch
from sottovoce.mls._codec import decode_all
from sottovoce.mls._framing_structs import (
    ContentType,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    WireFormat,
)
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._welcome import GroupInfo, Welcome
from sottovoce.mls.errors import MLSError

WELCOME_KIND = "mls.welcome"
"""The mailbox kind of the Welcomes a commit sends to the devices it adds."""


@dataclass(frozen=True, slots=True)
class Header:
    """What the server may know of a timeline message."""

    epoch: int
    is_commit: bool


_NOT_MLS = "a message body must be one MLS message (RFC 9420)"


def _envelope(body: bytes) -> MLSMessage:
    try:
        return decode_all(body, MLSMessage.decode)
    except MLSError:
        raise BadRequest(_NOT_MLS) from None


def _require_group(group_id: bytes, room_id: str) -> None:
    if group_id != room_id.encode():
        raise BadRequest("the MLS group id of a room's messages must be the room id")


# How an MLS PrivateMessage starts: its protocol version and wire format, two bytes each.
_PRIVATE_MESSAGE = bytes((0, ProtocolVersion.MLS10, 0, WireFormat.PRIVATE_MESSAGE))
_CONTENT_TYPES = frozenset(ContentType)


def read_header(room_id: str, body: bytes) -> Header:
    """The header of a timeline body, or ``BadRequest`` for anything that does not belong in a
    room's timeline (Welcomes and key packages go to mailboxes and the key directory)."""
    if body.startswith(_PRIVATE_MESSAGE):
        header = _private_header(room_id, body)
        if header is not None:
            return header
    # Decoded whole: any other message, and a PrivateMessage the reading in place refused, whose
    # decoding names what is wrong with it.
    message = _envelope(body).body
    if isinstance(message, PrivateMessage):
        _require_group(message.group_id, room_id)
        return Header(message.epoch, message.content_type is ContentType.COMMIT)
    if isinstance(message, PublicMessage):
        content = message.content
        _require_group(content.group_id, room_id)
        # RFC 9420 section 6.2: application data is only ever sent as a PrivateMessage.
        if content.content_type is ContentType.APPLICATION:
            raise BadRequest("application messages must be MLS PrivateMessages")
        return Header(content.epoch, content.content_type is ContentType.COMMIT)
    raise BadRequest("only MLS PublicMessage and PrivateMessage bodies belong in a room")


def _private_header(room_id: str, body: bytes) -> Header | None:
    """The header of an MLS PrivateMessage of the room's group, nearly every message, read in
    place with the checks decoding it makes (RFC 9420 section 6.3), without building the message
    or a reader. None for anything else, left to the decoder."""
    group = _group_field(room_id)
    if not body.startswith(group, len(_PRIVATE_MESSAGE)):
        return None
    pos = len(_PRIVATE_MESSAGE) + len(group)
    end = pos + 9
    size = len(body)
    if end > size or body[pos + 8] not in _CONTENT_TYPES:
        return None
    epoch = int.from_bytes(body[pos : pos + 8], "big")
    is_commit = body[pos + 8] == ContentType.COMMIT
    # authenticated_data, encrypted_sender_data and ciphertext fill the rest exactly.
    for _ in range(3):
        if end < size and body[end] < 1 << 6:
            # A one-byte size prefix, the common case, read here rather than in a call.
            end += 1 + body[end]
        else:
            end = _opaque_end(body, end)
            if end < 0:
                return None
    return Header(epoch, is_commit) if end == size else None


@functools.lru_cache(maxsize=4096)
def _group_field(room_id: str) -> bytes:
    """The room's group id as a PrivateMessage holds it: its size prefix in its minimal form
    (RFC 9420 section 2.1.2), then the room id in UTF-8."""
    group = room_id.encode()
    size = len(group)
    if size < 1 << 6:
        return bytes((size,)) + group
    if size < 1 << 14:
        return (0x4000 | size).to_bytes(2, "big") + group
    return (0x8000_0000 | size).to_bytes(4, "big") + group


def _opaque_end(data: bytes, pos: int) -> int:
    """Where the opaque value at ``pos`` ends, or -1 when its size prefix (RFC 9420 section 2.1.2,
    minimal) is invalid or the value runs past ``data``."""
    if pos >= len(data):
        return -1
    first = data[pos]
    prefix = first >> 6
    if prefix == 0:
        end = pos + 1 + first
    elif prefix == 1:
        if pos + 2 > len(data):
            return -1
        length = (first & 0x3F) << 8 | data[pos + 1]
        if length < 1 << 6:
            return -1
        end = pos + 2 + length
    elif prefix == 2:
        if pos + 4 > len(data):
            return -1
        length = int.from_bytes(data[pos : pos + 4], "big") & 0x3FFFFFFF
        if length < 1 << 14:
            return -1
        end = pos + 4 + length
    else:
        return -1
    return end if end <= len(data) else -1


def admit(header: Header, current_epoch: int) -> int:
    """The room's epoch after storing a message with ``header``; ``StaleEpoch`` when the message
    is for another epoch, which for a commit means another member's commit won that epoch."""
    if header.epoch != current_epoch:
        raise StaleEpoch(
            f"the room is at MLS epoch {current_epoch}, not {header.epoch}: process the "
            "room's newer events and send again",
            epoch=current_epoch,
        )
    return current_epoch + 1 if header.is_commit else current_epoch


def check_welcome(body: bytes) -> None:
    """``BadRequest`` unless ``body`` is one MLS Welcome (its content is for its recipient only)."""
    if not isinstance(_envelope(body).body, Welcome):
        raise BadRequest("a welcome must be one MLS Welcome message")


def group_info_epoch(room_id: str, body: bytes) -> int:
    """The epoch of a GroupInfo published for ``room_id``."""
    message = _envelope(body).body
    if not isinstance(message, GroupInfo):
        raise BadRequest("expected an MLS GroupInfo message")
    _require_group(message.group_context.group_id, room_id)
    return message.group_context.epoch
