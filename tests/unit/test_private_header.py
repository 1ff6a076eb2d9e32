"""The in-place reading of a PrivateMessage's header (``read_header``'s path for nearly every
message) answers exactly like decoding the whole MLS message, for real and damaged bodies."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.delivery import Header, read_header
from sottovoce.core.errors import BadRequest
from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package
from sottovoce.mls._codec import decode_all
from sottovoce.mls._framing_structs import ContentType, MLSMessage, PrivateMessage
from sottovoce.mls.errors import MLSError

ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:localhost"


def _group() -> Group:
    config = GroupConfig(accept_any_credential, encrypt_handshake=True)
    return Group.create(ROOM.encode(), generate_key_package(b"alice"), config)


GROUP = _group()
APPLICATION = GROUP.encrypt(b"hello")
COMMIT = _group().commit().message


def decoded(body: bytes) -> Header | None:
    """The header by way of the full decoder, or None where it refuses the body."""
    try:
        message = decode_all(body, MLSMessage.decode).body
    except MLSError:
        return None
    if not isinstance(message, PrivateMessage) or message.group_id != ROOM.encode():
        return None
    return Header(message.epoch, message.content_type is ContentType.COMMIT)


def read(body: bytes) -> Header | None:
    try:
        return read_header(ROOM, body)
    except BadRequest:
        return None


def test_real_messages_are_read_like_the_decoder_reads_them() -> None:
    assert read(APPLICATION) == decoded(APPLICATION) == Header(0, False)
    assert read(COMMIT) == decoded(COMMIT) == Header(0, True)
    assert read(APPLICATION + b"\x00") is None


@given(
    st.sampled_from([APPLICATION, COMMIT]),
    st.data(),
    st.binary(max_size=40),
    st.integers(4, 60),
    st.integers(0, 255),
)
def test_damaged_messages_are_read_like_the_decoder_reads_them(
    body: bytes, data: st.DataObject, tail: bytes, at: int, byte: int
) -> None:
    # Cut short (or not at all), given a tail, and one byte of the header (group id, epoch,
    # content type, a length prefix) overwritten: every field boundary of the layout is crossed.
    cut = data.draw(st.integers(0, len(body)))
    damaged = bytearray(body[:cut] + tail)
    if at < len(damaged):
        damaged[at] = byte
    assert read(bytes(damaged)) == decoded(bytes(damaged))
