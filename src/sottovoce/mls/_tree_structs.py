"""Wire structures of the ratchet tree (RFC 9420 sections 5.3, 7.1, 7.2, 7.6 and 12.4.1).

Encoding only: what makes a leaf or a tree acceptable lives in ``_ratchet_tree``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Self

from sottovoce.mls._codec import Reader, Writer, read_enum, serialize
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls.errors import DecodeError


def _write_u16(w: Writer, value: int) -> None:
    w.u16(value)


def _write_u32(w: Writer, value: int) -> None:
    w.u32(value)


def _write_opaque(w: Writer, value: bytes) -> None:
    w.opaque(value)


def _read_u16(r: Reader) -> int:
    return r.u16()


def _read_u32(r: Reader) -> int:
    return r.u32()


def _read_opaque(r: Reader) -> bytes:
    return r.opaque()


class CredentialType(IntEnum):
    BASIC = 1
    X509 = 2


class ExtensionType(IntEnum):
    """Extension types of RFC 9420 section 17.3; other values are carried opaquely."""

    APPLICATION_ID = 1
    RATCHET_TREE = 2
    REQUIRED_CAPABILITIES = 3
    EXTERNAL_PUB = 4
    EXTERNAL_SENDERS = 5


class LeafNodeSource(IntEnum):
    KEY_PACKAGE = 1
    UPDATE = 2
    COMMIT = 3


class NodeType(IntEnum):
    LEAF = 1
    PARENT = 2


@dataclass(frozen=True, slots=True)
class Credential:
    """A basic credential (``identity``) or an X.509 chain (``certificates``, leaf first)."""

    credential_type: CredentialType
    identity: bytes = b""
    certificates: tuple[bytes, ...] = ()

    @classmethod
    def basic(cls, identity: bytes) -> Self:
        return cls(CredentialType.BASIC, identity=identity)

    @classmethod
    def x509(cls, certificates: tuple[bytes, ...]) -> Self:
        return cls(CredentialType.X509, certificates=certificates)

    def encode(self, w: Writer) -> None:
        w.u16(self.credential_type)
        if self.credential_type == CredentialType.BASIC:
            w.opaque(self.identity)
        else:
            w.vector(self.certificates, _write_opaque)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        kind = read_enum(r.u16(), CredentialType)
        if kind == CredentialType.BASIC:
            return cls(kind, identity=r.opaque())
        return cls(kind, certificates=tuple(r.vector(_read_opaque)))


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a member supports. Values stay plain integers: unknown (GREASE) ones are legal."""

    versions: tuple[int, ...] = (ProtocolVersion.MLS10,)
    cipher_suites: tuple[int, ...] = ()
    extensions: tuple[int, ...] = ()
    proposals: tuple[int, ...] = ()
    credentials: tuple[int, ...] = (CredentialType.BASIC,)

    def encode(self, w: Writer) -> None:
        for values in (
            self.versions,
            self.cipher_suites,
            self.extensions,
            self.proposals,
            self.credentials,
        ):
            w.vector(values, _write_u16)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(*(tuple(r.vector(_read_u16)) for _ in range(5)))


@dataclass(frozen=True, slots=True)
class Lifetime:
    not_before: int
    not_after: int

    def encode(self, w: Writer) -> None:
        w.u64(self.not_before).u64(self.not_after)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u64(), r.u64())


@dataclass(frozen=True, slots=True)
class Extension:
    """One extension (RFC 9420 section 13): a type from ``ExtensionType`` or a private one, and
    its encoded data, carried as is. ``RequiredCapabilities.extension()`` builds the one
    extension this library interprets that an application would set."""

    extension_type: int
    extension_data: bytes

    def encode(self, w: Writer) -> None:
        w.u16(self.extension_type).opaque(self.extension_data)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.u16(), r.opaque())


def write_extension(w: Writer, extension: Extension) -> None:
    extension.encode(w)


def read_extensions(r: Reader) -> tuple[Extension, ...]:
    """``Extension extensions<V>``, rejecting a type that appears twice (RFC 9420 section 13.4)."""
    extensions = tuple(r.vector(Extension.decode))
    types = [e.extension_type for e in extensions]
    if len(set(types)) != len(types):
        raise DecodeError("extension list repeats an extension type")
    return extensions


@dataclass(frozen=True, slots=True)
class LeafNode:
    """A member's leaf. ``lifetime`` is set exactly for key-package leaves, ``parent_hash``
    exactly for commit leaves."""

    encryption_key: bytes
    signature_key: bytes
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Lifetime | None = None
    parent_hash: bytes | None = None
    extensions: tuple[Extension, ...] = ()
    signature: bytes = b""

    def _encode_content(self, w: Writer) -> None:
        w.opaque(self.encryption_key).opaque(self.signature_key)
        self.credential.encode(w)
        self.capabilities.encode(w)
        w.u8(self.leaf_node_source)
        if self.leaf_node_source == LeafNodeSource.KEY_PACKAGE:
            if self.lifetime is None:
                raise ValueError("a key-package leaf needs a lifetime")
            self.lifetime.encode(w)
        elif self.leaf_node_source == LeafNodeSource.COMMIT:
            if self.parent_hash is None:
                raise ValueError("a commit leaf needs a parent hash")
            w.opaque(self.parent_hash)
        w.vector(self.extensions, write_extension)

    def encode(self, w: Writer) -> None:
        self._encode_content(w)
        w.opaque(self.signature)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        encryption_key = r.opaque()
        signature_key = r.opaque()
        credential = Credential.decode(r)
        capabilities = Capabilities.decode(r)
        source = read_enum(r.u8(), LeafNodeSource)
        lifetime = Lifetime.decode(r) if source == LeafNodeSource.KEY_PACKAGE else None
        parent_hash = r.opaque() if source == LeafNodeSource.COMMIT else None
        extensions = read_extensions(r)
        return cls(
            encryption_key,
            signature_key,
            credential,
            capabilities,
            source,
            lifetime,
            parent_hash,
            extensions,
            r.opaque(),
        )

    def to_be_signed(self, group_id: bytes, leaf_index: int) -> bytes:
        """``LeafNodeTBS``. Key-package leaves are not bound to a group, so the group id and
        leaf index are ignored for them."""
        w = Writer()
        self._encode_content(w)
        if self.leaf_node_source in (LeafNodeSource.UPDATE, LeafNodeSource.COMMIT):
            w.opaque(group_id).u32(leaf_index)
        return w.bytes()

    def signed(
        self, suite: CipherSuite, signature_priv: bytes, group_id: bytes, leaf_index: int
    ) -> Self:
        tbs = self.to_be_signed(group_id, leaf_index)
        return dataclasses.replace(
            self, signature=suite.sign_with_label(signature_priv, b"LeafNodeTBS", tbs)
        )

    def has_valid_signature(self, suite: CipherSuite, group_id: bytes, leaf_index: int) -> bool:
        tbs = self.to_be_signed(group_id, leaf_index)
        return suite.verify_with_label(self.signature_key, b"LeafNodeTBS", tbs, self.signature)


@dataclass(frozen=True, slots=True)
class ParentNode:
    encryption_key: bytes
    parent_hash: bytes
    unmerged_leaves: tuple[int, ...] = ()

    def encode(self, w: Writer) -> None:
        w.opaque(self.encryption_key).opaque(self.parent_hash)
        w.vector(self.unmerged_leaves, _write_u32)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque(), r.opaque(), tuple(r.vector(_read_u32)))


@dataclass(frozen=True, slots=True)
class Node:
    """A tree node on the wire: the ``node_type`` tag is implied by ``value``'s class."""

    value: LeafNode | ParentNode

    def encode(self, w: Writer) -> None:
        if isinstance(self.value, LeafNode):
            w.u8(NodeType.LEAF)
        else:
            w.u8(NodeType.PARENT)
        self.value.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        if read_enum(r.u8(), NodeType) == NodeType.LEAF:
            return cls(LeafNode.decode(r))
        return cls(ParentNode.decode(r))


@dataclass(frozen=True, slots=True)
class HPKECiphertext:
    kem_output: bytes
    ciphertext: bytes

    def encode(self, w: Writer) -> None:
        w.opaque(self.kem_output).opaque(self.ciphertext)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque(), r.opaque())


@dataclass(frozen=True, slots=True)
class UpdatePathNode:
    encryption_key: bytes
    encrypted_path_secret: tuple[HPKECiphertext, ...]

    def encode(self, w: Writer) -> None:
        w.opaque(self.encryption_key)
        # The vector written inline: after a bulk add a node holds one ciphertext per member.
        ciphertexts = Writer()
        for c in self.encrypted_path_secret:
            ciphertexts.opaque(c.kem_output).opaque(c.ciphertext)
        w.opaque(ciphertexts.bytes())

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque(), tuple(r.vector(HPKECiphertext.decode)))


def _write_update_path_node(w: Writer, value: UpdatePathNode) -> None:
    value.encode(w)


@dataclass(frozen=True, slots=True)
class UpdatePath:
    leaf_node: LeafNode
    nodes: tuple[UpdatePathNode, ...]
    _encoding: bytes | None = field(default=None, init=False, repr=False, compare=False)
    """This value's encoding once computed. A commit is encoded several times (signed,
    encrypted, hashed into the transcript), and its path can hold a ciphertext per member."""

    def encode(self, w: Writer) -> None:
        encoding = self._encoding
        if encoding is None:
            own = Writer()
            self.leaf_node.encode(own)
            own.vector(self.nodes, _write_update_path_node)
            encoding = own.bytes()
            # Frozen, so the encoding cannot go stale; ``replace`` starts a copy without it.
            object.__setattr__(self, "_encoding", encoding)
        w.raw(encoding)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(LeafNode.decode(r), tuple(r.vector(UpdatePathNode.decode)))


@dataclass(frozen=True, slots=True)
class RequiredCapabilities:
    """The ``required_capabilities`` group-context extension (RFC 9420 section 11.1): once the
    group has it, every member and joiner must list these types in its capabilities."""

    extension_types: tuple[int, ...] = ()
    proposal_types: tuple[int, ...] = ()
    credential_types: tuple[int, ...] = ()

    def extension(self) -> Extension:
        """This value as the group-context extension to commit or propose."""
        return Extension(ExtensionType.REQUIRED_CAPABILITIES, serialize(self))

    def encode(self, w: Writer) -> None:
        for values in (self.extension_types, self.proposal_types, self.credential_types):
            w.vector(values, _write_u16)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(*(tuple(r.vector(_read_u16)) for _ in range(3)))
