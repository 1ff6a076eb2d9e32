"""Combining a commit's pre-shared keys into ``psk_secret`` (RFC 9420 section 8.4)."""

from __future__ import annotations

from collections.abc import Sequence

from sottovoce.mls._codec import Encodable, Writer
from sottovoce.mls._suite import CipherSuite


def psk_secret(suite: CipherSuite, psks: Sequence[tuple[Encodable, bytes]]) -> bytes:
    """Chain ``(PreSharedKeyID, psk)`` pairs, in proposal order, into one secret.

    With no PSKs the result is the all-zero secret, as the key schedule expects.
    """
    zero = bytes(suite.hash_len)
    secret = zero
    count = len(psks)
    for index, (psk_id, psk) in enumerate(psks):
        w = Writer()
        psk_id.encode(w)
        # PSKLabel binds each PSK to its position, so reordering the list changes the result.
        psk_label = w.u16(index).u16(count).bytes()
        extracted = suite.extract(zero, psk)
        psk_input = suite.expand_with_label(extracted, b"derived psk", psk_label, suite.hash_len)
        secret = suite.extract(psk_input, secret)
    return secret
