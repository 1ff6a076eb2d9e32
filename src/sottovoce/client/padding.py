"""Padding of plaintexts to size buckets before encryption, so ciphertext sizes do not reveal
exact message lengths.

Guarantees:

- ``pad(data)`` is ``data``, one ``0x80`` byte, then zeros up to ``padded_size(len(data))``
  (ISO/IEC 7816-4 style), so unpadding is unambiguous for any content, including trailing zeros.
- Every plaintext of at most ``MIN_BUCKET - 1`` bytes pads to ``MIN_BUCKET`` bytes; above that,
  sizes are rounded up with Padmé (Nikitin et al., PETS 2019): a length L leaks only
  O(log log L) bits and the overhead stays under 12%.
- ``unpad`` accepts only the exact output of ``pad``; anything else raises ``PaddingError``.
"""

from __future__ import annotations

from sottovoce.client.e2ee_errors import PaddingError

MIN_BUCKET = 256
_MARKER = 0x80


def _padme(length: int) -> int:
    exponent = length.bit_length() - 1
    mantissa_bits = exponent.bit_length()
    mask = (1 << (exponent - mantissa_bits)) - 1
    return (length + mask) & ~mask


def padded_size(length: int) -> int:
    """The padded size of a plaintext of ``length`` bytes."""
    if length < 0:
        raise ValueError("a length is not negative")
    return max(MIN_BUCKET, _padme(length + 1))


def pad(data: bytes) -> bytes:
    return data + bytes([_MARKER]) + bytes(padded_size(len(data)) - len(data) - 1)


def unpad(padded: bytes) -> bytes:
    data = padded.rstrip(b"\x00")
    if not data or data[-1] != _MARKER:
        raise PaddingError("the plaintext has no padding marker")
    data = data[:-1]
    if padded_size(len(data)) != len(padded):
        raise PaddingError("the plaintext is not padded to its bucket")
    return data
