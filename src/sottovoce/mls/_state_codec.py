"""A member's group state as versioned bytes, for persisting a group between runs.

This is a local format, not an RFC structure. It holds every private key and epoch secret of
the member, so whoever stores it must protect it like a private key (encrypt it at rest).

Version 2 appends the own pending commit (its message and the state it leads to); version 1,
which has none, is still read.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from sottovoce.mls._codec import Reader, Writer, decode_all
from sottovoce.mls._commit_flow import PendingCommit
from sottovoce.mls._framing_structs import Sender
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._group_state import GroupState, PendingProposal
from sottovoce.mls._key_schedule import EpochSecrets
from sottovoce.mls._proposal_rules import ResolvedProposal
from sottovoce.mls._proposals import Proposal, ReInit
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._secret_tree import SecretTree
from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import DecodeError

_MAGIC = b"SVMLS"
STATE_VERSION = 2
_READABLE_VERSIONS = frozenset({1, 2})
_SECRET_FIELDS = tuple(f.name for f in dataclasses.fields(EpochSecrets))


def _read_flag(r: Reader) -> bool:
    value = r.u8()
    if value > 1:
        raise DecodeError(f"boolean byte must be 0 or 1, got {value}")
    return value == 1


def _write_pending(w: Writer, pending: PendingProposal) -> None:
    w.opaque(pending.ref)
    pending.proposal.proposal.encode(w)
    pending.proposal.sender.encode(w)
    w.u8(pending.proposal.by_reference)


def _read_pending(r: Reader) -> PendingProposal:
    ref = r.opaque()
    proposal = Proposal.decode(r)
    sender = Sender.decode(r)
    return PendingProposal(ref, ResolvedProposal(proposal, sender, _read_flag(r)))


def _write_int_key(w: Writer, item: tuple[int, bytes]) -> None:
    w.u64(item[0]).opaque(item[1])


def _read_int_key(r: Reader) -> tuple[int, bytes]:
    return r.u64(), r.opaque()


def _write_bytes_pair(w: Writer, item: tuple[bytes, bytes]) -> None:
    w.opaque(item[0]).opaque(item[1])


def _read_bytes_pair(r: Reader) -> tuple[bytes, bytes]:
    return r.opaque(), r.opaque()


def _write_leaf_index(w: Writer, index: int) -> None:
    w.u32(index)


def _read_leaf_index(r: Reader) -> int:
    return r.u32()


def _write_pending_commit(w: Writer, pending: PendingCommit) -> None:
    w.opaque(pending.message)
    w.vector(pending.added, _write_leaf_index).vector(pending.removed, _write_leaf_index)
    _write_body(w, pending.state)


def _read_pending_commit(r: Reader) -> PendingCommit:
    message = r.opaque()
    added = tuple(r.vector(_read_leaf_index))
    removed = tuple(r.vector(_read_leaf_index))
    return PendingCommit(message, _read_body(r), added, removed)


def encode_group(state: GroupState, pending_commit: PendingCommit | None) -> bytes:
    w = Writer().raw(_MAGIC).u8(STATE_VERSION)
    _write_body(w, state)
    w.optional(pending_commit, _write_pending_commit)
    return w.bytes()


def _write_body(w: Writer, state: GroupState) -> None:
    w.u16(state.suite.suite_id)
    state.context.encode(w)
    state.tree.encode(w)
    w.u32(state.own_leaf).opaque(state.signature_priv)
    w.vector(sorted(state.private_keys.items()), _write_int_key)
    for name in _SECRET_FIELDS:
        w.opaque(getattr(state.secrets, name))
    state.secret_tree.encode(w)
    w.opaque(state.interim_transcript_hash).opaque(state.confirmation_tag)
    w.vector(state.pending, _write_pending)
    w.vector(sorted(state.resumption_psks.items()), _write_int_key)
    w.vector(sorted(state.update_keys.items()), _write_bytes_pair)
    w.optional(state.reinit, lambda w, reinit: reinit.encode(w))


def _read_group(r: Reader) -> tuple[GroupState, PendingCommit | None]:
    if r.raw(len(_MAGIC)) != _MAGIC:
        raise DecodeError("not a saved MLS group state")
    version = r.u8()
    if version not in _READABLE_VERSIONS:
        raise DecodeError(f"saved group state version {version} is not supported")
    state = _read_body(r)
    pending = r.optional(_read_pending_commit) if version >= 2 else None
    if pending is not None and (
        pending.state.context.group_id != state.context.group_id
        or pending.state.context.epoch != state.context.epoch + 1
    ):
        raise DecodeError("saved pending commit is not for the next epoch of this group")
    return state, pending


def _read_body(r: Reader) -> GroupState:
    suite = get_suite(r.u16())
    context = GroupContext.decode(r)
    tree = RatchetTree.decode(r)
    own_leaf = r.u32()
    signature_priv = r.opaque()
    private_keys = dict(r.vector(_read_int_key))
    secrets = EpochSecrets(**{name: r.opaque() for name in _SECRET_FIELDS})
    secret_tree = SecretTree.decode(r)
    interim = r.opaque()
    tag = r.opaque()
    pending = tuple(r.vector(_read_pending))
    resumption_psks = dict(r.vector(_read_int_key))
    update_keys = dict(r.vector(_read_bytes_pair))
    reinit = r.optional(ReInit.decode)
    if tree.leaf(own_leaf) is None or context.cipher_suite != suite.suite_id:
        raise DecodeError("saved group state is inconsistent")
    return GroupState(
        suite=suite,
        context=context,
        tree=tree,
        own_leaf=own_leaf,
        signature_priv=signature_priv,
        private_keys=MappingProxyType(private_keys),
        secrets=secrets,
        secret_tree=secret_tree,
        interim_transcript_hash=interim,
        confirmation_tag=tag,
        pending=pending,
        resumption_psks=MappingProxyType(resumption_psks),
        update_keys=MappingProxyType(update_keys),
        reinit=reinit,
    )


def decode_group(data: bytes) -> tuple[GroupState, PendingCommit | None]:
    """The state and own pending commit saved by ``encode_group``, of either version."""
    return decode_all(data, _read_group)
