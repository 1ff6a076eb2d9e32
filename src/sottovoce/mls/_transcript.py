"""Transcript hashes and the confirmation tag (RFC 9420 sections 8.2 and 6.1)."""

from __future__ import annotations

import hmac

from sottovoce.mls._codec import Writer
from sottovoce.mls._framing_structs import AuthenticatedContent
from sottovoce.mls._suite import CipherSuite


def confirmed_transcript_hash(
    suite: CipherSuite, interim_transcript_hash: bytes, commit: AuthenticatedContent
) -> bytes:
    """The new epoch's confirmed hash: the previous interim hash plus this signed commit."""
    w = Writer().raw(interim_transcript_hash).u16(commit.wire_format)
    commit.content.encode(w)
    return suite.hash(w.opaque(commit.auth.signature).bytes())


def interim_transcript_hash(
    suite: CipherSuite, confirmed_transcript_hash: bytes, confirmation_tag: bytes
) -> bytes:
    return suite.hash(Writer().raw(confirmed_transcript_hash).opaque(confirmation_tag).bytes())


def confirmation_tag(
    suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes
) -> bytes:
    return suite.mac(confirmation_key, confirmed_transcript_hash)


def confirmation_tag_is_valid(
    suite: CipherSuite, confirmation_key: bytes, confirmed_transcript_hash: bytes, tag: bytes
) -> bool:
    expected = confirmation_tag(suite, confirmation_key, confirmed_transcript_hash)
    return hmac.compare_digest(expected, tag)
