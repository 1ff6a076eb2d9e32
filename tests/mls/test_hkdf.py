"""HKDF (RFC 5869) as the suite computes it, on the standard library's one-shot HMAC."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls._hpke import hkdf_expand, hkdf_extract

SHA256 = hashes.SHA256()


def test_rfc5869_case_1() -> None:
    prk = hkdf_extract(SHA256, bytes(range(13)), b"\x0b" * 22)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = hkdf_expand(SHA256, prk, bytes(range(0xF0, 0xFA)), 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_absent_salt_is_hash_length_zeros() -> None:
    assert hkdf_extract(SHA256, b"", b"ikm") == hkdf_extract(SHA256, bytes(32), b"ikm")


@given(
    prk=st.binary(min_size=32, max_size=64),
    info=st.binary(max_size=80),
    length=st.integers(min_value=1, max_value=255 * 32),
)
def test_expand_matches_cryptography(prk: bytes, info: bytes, length: int) -> None:
    assert hkdf_expand(SHA256, prk, info, length) == HKDFExpand(SHA256, length, info).derive(prk)


def test_expand_refuses_more_than_255_blocks() -> None:
    with pytest.raises(ValueError):
        hkdf_expand(SHA256, bytes(32), b"", 255 * 32 + 1)
