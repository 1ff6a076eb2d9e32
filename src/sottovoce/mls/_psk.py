"""Finding a commit's pre-shared keys and combining them into ``psk_secret`` (RFC 9420
section 8.4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sottovoce.mls._codec import Encodable, Writer
from sottovoce.mls._proposals import PreSharedKeyID, PSKType, ResumptionPSKUsage
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls.errors import InvalidProposal


@dataclass(frozen=True, slots=True)
class ResumptionPSKs:
    """The resumption PSKs a member keeps for one group, by epoch: its current group's, or
    the old group a branch or reinit resumes (RFC 9420 sections 11.2 and 11.3)."""

    group_id: bytes
    by_epoch: Mapping[int, bytes]


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


def resolve_psks(
    suite: CipherSuite,
    ids: Sequence[PreSharedKeyID],
    *,
    external: Mapping[bytes, bytes],
    own: ResumptionPSKs | None,
    resumed: ResumptionPSKs | None,
) -> bytes:
    """``psk_secret`` for ``ids``; every PSK must be known (external) or kept (resumption):
    an application resumption PSK in ``own``, the group's own, a reinit or branch one in
    ``resumed``, the old group a new group starts from."""
    pairs = []
    for psk_id in ids:
        value = None
        if psk_id.psk_type is PSKType.EXTERNAL:
            value = external.get(psk_id.psk_id)
        else:
            source = own if psk_id.usage is ResumptionPSKUsage.APPLICATION else resumed
            if source is not None and source.group_id == psk_id.psk_group_id:
                value = source.by_epoch.get(psk_id.psk_epoch)
        if value is None:
            raise InvalidProposal("a pre-shared key of this commit is not known to this member")
        pairs.append((psk_id, value))
    return psk_secret(suite, pairs)
