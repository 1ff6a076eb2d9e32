"""deserialization.json: variable-length vector headers (RFC 9420 section 2.1.2)."""

from __future__ import annotations

import pytest

from sottovoce.mls._codec import Reader, decode_all, encode_varint
from sottovoce.mls.errors import DecodeError

from .vectors import hexb, load

FILE = "deserialization.json"


def test_vlbytes_headers_decode_to_length_and_encode_back() -> None:
    cases = load(FILE)
    assert cases, f"{FILE} is empty"
    for case in cases:
        header, length = hexb(case["vlbytes_header"]), case["length"]
        assert decode_all(header, Reader.varint) == length, case
        assert encode_varint(length) == header, case
    # The file is suite independent: every entry applies.
    print(f"{FILE}: {len(cases)} cases passed, 0 skipped")


@pytest.mark.parametrize("header", ["4000", "4025", "80000000", "80003fff"])
def test_non_minimal_vlbytes_header_is_rejected(header: str) -> None:
    with pytest.raises(DecodeError):
        decode_all(hexb(header), Reader.varint)


def test_vlbytes_header_with_reserved_prefix_is_rejected() -> None:
    with pytest.raises(DecodeError):
        decode_all(hexb("c0000000"), Reader.varint)
