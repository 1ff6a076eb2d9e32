"""GroupContext (RFC 9420 section 8.1): what every member agrees the group is, this epoch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from sottovoce.mls._codec import Reader, Writer, read_enum
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._tree_structs import Extension, read_extensions, write_extension


@dataclass(frozen=True, slots=True)
class GroupContext:
    cipher_suite: int
    group_id: bytes
    epoch: int
    tree_hash: bytes
    confirmed_transcript_hash: bytes
    extensions: tuple[Extension, ...] = ()
    version: ProtocolVersion = ProtocolVersion.MLS10

    def encode(self, w: Writer) -> None:
        w.u16(self.version).u16(self.cipher_suite).opaque(self.group_id).u64(self.epoch)
        w.opaque(self.tree_hash).opaque(self.confirmed_transcript_hash)
        w.vector(self.extensions, write_extension)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        version = read_enum(r.u16(), ProtocolVersion)
        return cls(
            cipher_suite=r.u16(),
            group_id=r.opaque(),
            epoch=r.u64(),
            tree_hash=r.opaque(),
            confirmed_transcript_hash=r.opaque(),
            extensions=read_extensions(r),
            version=version,
        )
