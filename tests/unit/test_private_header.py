"""The in-place reading of a PrivateMessage's header (``read_header``'s path for nearly every
message) answers exactly like decoding the whole MLS message, for real and damaged bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.delivery import Header, read_header
from sottovoce.core.errors import BadRequest
from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package
from sottovoce.mls._codec import decode_all
from sottovoce.mls._framing_structs import ContentType, MLSMessage, PrivateMessage
from sottovoce.mls.errors import MLSError

ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:localhost"
# Protocol version mls10 and wire format mls_private_message.
PREFIX = b"\x00\x01\x00\x02"


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


def test_every_size_prefix_length_is_read_like_the_decoder_reads_them() -> None:
    # Ciphertexts whose size takes one, two and four bytes to write (RFC 9420 section 2.1.2).
    for plaintext in (b"", b"x" * 100, b"x" * 20_000):
        body = GROUP.encrypt(plaintext)
        assert read(body) == decoded(body) == Header(0, False)


def test_a_room_id_of_64_bytes_or_more_is_read_like_the_decoder_reads_it() -> None:
    room = "!AAAAAAAAAAAAAAAAAAAAAA:" + "a" * 60 + ".example.org"
    config = GroupConfig(accept_any_credential)
    body = Group.create(room.encode(), generate_key_package(b"alice"), config).encrypt(b"hi")
    assert read_header(room, body) == Header(0, False)
    with pytest.raises(BadRequest, match="group id"):
        read_header(ROOM, body)


def test_a_group_id_written_with_a_longer_size_prefix_than_needed_is_refused() -> None:
    # The same message with its group id's size in two bytes: not the minimal encoding.
    group = ROOM.encode()
    start = len(PREFIX) + 1
    assert APPLICATION[len(PREFIX)] == len(group)
    padded = PREFIX + (0x4000 | len(group)).to_bytes(2, "big") + APPLICATION[start:]
    assert decoded(padded) is None
    with pytest.raises(BadRequest, match="one MLS message"):
        read_header(ROOM, padded)


def test_another_rooms_message_is_refused_for_its_group_not_as_malformed() -> None:
    with pytest.raises(BadRequest, match="group id"):
        read_header("!BBBBBBBBBBBBBBBBBBBBBB:localhost", APPLICATION)
    with pytest.raises(BadRequest, match="one MLS message"):
        read_header(ROOM, APPLICATION[:-1])
