"""GroupContext (RFC 9420 section 8.1): what every member agrees the group is, this epoch."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """This value's encoding once computed: every message of the epoch signs over it."""

    def encode(self, w: Writer) -> None:
        encoding = self._encoding
        if encoding is None:
            own = Writer()
            own.u16(self.version).u16(self.cipher_suite).opaque(self.group_id).u64(self.epoch)
            own.opaque(self.tree_hash).opaque(self.confirmed_transcript_hash)
            own.vector(self.extensions, write_extension)
            encoding = own.bytes()
            # Frozen, so the encoding cannot go stale; ``replace`` starts a copy without it.
            object.__setattr__(self, "_encoding", encoding)
        w.raw(encoding)

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
