"""Decoding untrusted bytes: any input either decodes to a message that re-encodes to the same
bytes, or raises DecodeError; nothing else escapes."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._framing_structs import MLSMessage
from sottovoce.mls.errors import DecodeError
from tests.mls.vectors import hexb, load

MESSAGE_FIELDS = (
    "mls_welcome",
    "mls_group_info",
    "mls_key_package",
    "public_message_application",
    "public_message_proposal",
    "public_message_commit",
    "private_message",
)


@cache
def _vector_messages(entry: int, field: str) -> bytes:
    return hexb(load("messages.json")[entry][field])


def _decodes_strictly(data: bytes) -> None:
    try:
        message = decode_all(data, MLSMessage.decode)
    except DecodeError:
        return
    assert serialize(message) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    _decodes_strictly(data)


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(MESSAGE_FIELDS),
    position=st.integers(min_value=0),
    value=st.integers(min_value=0, max_value=255),
    entry=st.integers(min_value=0, max_value=9),
)
def test_mutated_vector_messages_decode_or_raise_decode_error(
    field: str, position: int, value: int, entry: int
) -> None:
    data = bytearray(_vector_messages(entry, field))
    data[position % len(data)] = value
    _decodes_strictly(bytes(data))
