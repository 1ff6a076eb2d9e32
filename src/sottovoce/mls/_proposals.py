"""Proposals (RFC 9420 section 12.1) and the ProposalOrRef wrapper commits carry (section 12.4).

A ``Proposal`` wraps one body type; the body's class says which proposal type it is, so a value
can never disagree with its own tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from sottovoce.mls._codec import Reader, Writer, read_enum
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._tree_structs import Extension, LeafNode, read_extensions, write_extension


class ProposalType(IntEnum):
    ADD = 1
    UPDATE = 2
    REMOVE = 3
    PSK = 4
    REINIT = 5
    EXTERNAL_INIT = 6
    GROUP_CONTEXT_EXTENSIONS = 7


class PSKType(IntEnum):
    EXTERNAL = 1
    RESUMPTION = 2


class ResumptionPSKUsage(IntEnum):
    APPLICATION = 1
    REINIT = 2
    BRANCH = 3


@dataclass(frozen=True, slots=True)
class PreSharedKeyID:
    """Names a PSK. External PSKs set ``psk_id``; resumption PSKs set usage, group id and epoch."""

    psk_type: PSKType
    psk_nonce: bytes
    psk_id: bytes = b""
    usage: ResumptionPSKUsage = ResumptionPSKUsage.APPLICATION
    psk_group_id: bytes = b""
    psk_epoch: int = 0

    def encode(self, w: Writer) -> None:
        w.u8(self.psk_type)
        if self.psk_type is PSKType.EXTERNAL:
            w.opaque(self.psk_id)
        else:
            w.u8(self.usage).opaque(self.psk_group_id).u64(self.psk_epoch)
        w.opaque(self.psk_nonce)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        psk_type = read_enum(r.u8(), PSKType)
        if psk_type is PSKType.EXTERNAL:
            return cls(psk_type, psk_id=r.opaque(), psk_nonce=r.opaque())
        usage = read_enum(r.u8(), ResumptionPSKUsage)
        group_id = r.opaque()
        epoch = r.u64()
        return cls(
            psk_type, usage=usage, psk_group_id=group_id, psk_epoch=epoch, psk_nonce=r.opaque()
        )


@dataclass(frozen=True, slots=True)
class Add:
    proposal_type: ClassVar[ProposalType] = ProposalType.ADD
    key_package: KeyPackage

    def encode(self, w: Writer) -> None:
        self.key_package.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(KeyPackage.decode(r))


@dataclass(frozen=True, slots=True)
class Update:
    proposal_type: ClassVar[ProposalType] = ProposalType.UPDATE
    leaf_node: LeafNode

    def encode(self, w: Writer) -> None:
        self.leaf_node.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(LeafNode.decode(r))


@dataclass(frozen=True, slots=True)
class Remove:
    proposal_type: ClassVar[ProposalType] = ProposalType.REMOVE
    removed: int

    def encode(self, w: Writer) -> None:
        w.u32(self.removed)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u32())


@dataclass(frozen=True, slots=True)
class PreSharedKey:
    proposal_type: ClassVar[ProposalType] = ProposalType.PSK
    psk: PreSharedKeyID

    def encode(self, w: Writer) -> None:
        self.psk.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(PreSharedKeyID.decode(r))


@dataclass(frozen=True, slots=True)
class ReInit:
    proposal_type: ClassVar[ProposalType] = ProposalType.REINIT
    group_id: bytes
    version: ProtocolVersion
    cipher_suite: int
    extensions: tuple[Extension, ...]

    def encode(self, w: Writer) -> None:
        w.opaque(self.group_id).u16(self.version).u16(self.cipher_suite)
        w.vector(self.extensions, write_extension)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        group_id = r.opaque()
        version = read_enum(r.u16(), ProtocolVersion)
        return cls(group_id, version, r.u16(), read_extensions(r))


@dataclass(frozen=True, slots=True)
class ExternalInit:
    proposal_type: ClassVar[ProposalType] = ProposalType.EXTERNAL_INIT
    kem_output: bytes

    def encode(self, w: Writer) -> None:
        w.opaque(self.kem_output)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque())


@dataclass(frozen=True, slots=True)
class GroupContextExtensions:
    proposal_type: ClassVar[ProposalType] = ProposalType.GROUP_CONTEXT_EXTENSIONS
    extensions: tuple[Extension, ...]

    def encode(self, w: Writer) -> None:
        w.vector(self.extensions, write_extension)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(read_extensions(r))


ProposalBody = Add | Update | Remove | PreSharedKey | ReInit | ExternalInit | GroupContextExtensions

_BODY_TYPES: dict[ProposalType, type[ProposalBody]] = {
    body.proposal_type: body
    for body in (Add, Update, Remove, PreSharedKey, ReInit, ExternalInit, GroupContextExtensions)
}


@dataclass(frozen=True, slots=True)
class Proposal:
    body: ProposalBody

    @property
    def proposal_type(self) -> ProposalType:
        return self.body.proposal_type

    def encode(self, w: Writer) -> None:
        w.u16(self.body.proposal_type)
        self.body.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        # A proposal body carries no length, so a type we do not know cannot even be skipped.
        proposal_type = read_enum(r.u16(), ProposalType)
        return cls(_BODY_TYPES[proposal_type].decode(r))


class ProposalOrRefType(IntEnum):
    PROPOSAL = 1
    REFERENCE = 2


@dataclass(frozen=True, slots=True)
class ProposalOrRef:
    """A proposal inline in a commit, or the ProposalRef of one sent earlier in the epoch."""

    value: Proposal | bytes

    def encode(self, w: Writer) -> None:
        if isinstance(self.value, Proposal):
            w.u8(ProposalOrRefType.PROPOSAL)
            self.value.encode(w)
        else:
            w.u8(ProposalOrRefType.REFERENCE).opaque(self.value)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        kind = read_enum(r.u8(), ProposalOrRefType)
        if kind is ProposalOrRefType.PROPOSAL:
            return cls(Proposal.decode(r))
        return cls(r.opaque())
