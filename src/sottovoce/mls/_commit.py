"""The Commit message body (RFC 9420 section 12.4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls._codec import Reader, Writer
from sottovoce.mls._proposals import ProposalOrRef
from sottovoce.mls._tree_structs import UpdatePath


@dataclass(frozen=True, slots=True)
class Commit:
    proposals: tuple[ProposalOrRef, ...]
    path: UpdatePath | None = None

    def encode(self, w: Writer) -> None:
        w.vector(self.proposals, lambda w, p: p.encode(w))
        w.optional(self.path, lambda w, p: p.encode(w))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        proposals = tuple(r.vector(ProposalOrRef.decode))
        return cls(proposals, r.optional(UpdatePath.decode))
