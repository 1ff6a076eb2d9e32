"""KeyPackages (RFC 9420 section 10): creation, validation and references."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from sottovoce.mls._codec import Reader, Writer, decode_all, read_enum, serialize
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._tree_structs import (
    Capabilities,
    Credential,
    Extension,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    read_extensions,
    write_extension,
)
from sottovoce.mls.errors import InvalidKeyPackage

_SIGN_LABEL = b"KeyPackageTBS"


@dataclass(frozen=True, slots=True)
class KeyPackage:
    """A member-to-be's published keys and credential (RFC 9420 section 10); one per join:
    its init key is used by a single Welcome."""

    version: ProtocolVersion
    cipher_suite: int
    init_key: bytes
    leaf_node: LeafNode
    extensions: tuple[Extension, ...]
    signature: bytes = b""

    def encode_tbs(self, w: Writer) -> None:
        """KeyPackageTBS: every field but the signature."""
        w.u16(self.version).u16(self.cipher_suite).opaque(self.init_key)
        self.leaf_node.encode(w)
        w.vector(self.extensions, write_extension)

    def tbs(self) -> bytes:
        w = Writer()
        self.encode_tbs(w)
        return w.bytes()

    def encode(self, w: Writer) -> None:
        self.encode_tbs(w)
        w.opaque(self.signature)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        version = read_enum(r.u16(), ProtocolVersion)
        cipher_suite = r.u16()
        init_key = r.opaque()
        leaf_node = LeafNode.decode(r)
        extensions = read_extensions(r)
        return cls(version, cipher_suite, init_key, leaf_node, extensions, r.opaque())

    def ref(self, suite: CipherSuite) -> bytes:
        """KeyPackageRef: how Welcome and proposals name this package."""
        return suite.ref_hash(b"KeyPackage Reference", serialize(self))

    def signed(self, suite: CipherSuite, signature_priv: bytes) -> KeyPackage:
        return replace(
            self, signature=suite.sign_with_label(signature_priv, _SIGN_LABEL, self.tbs())
        )

    def verify_signature(self, suite: CipherSuite) -> bool:
        return suite.verify_with_label(
            self.leaf_node.signature_key, _SIGN_LABEL, self.tbs(), self.signature
        )


def validate_key_package(key_package: KeyPackage, suite: CipherSuite) -> None:
    """The checks of RFC 9420 section 10.1 that need no group: suite, version, source,
    signature and distinct keys. Leaf-node checks against a group (capabilities, lifetime,
    duplicate keys) belong to the ratchet tree."""
    if key_package.version is not ProtocolVersion.MLS10:
        raise InvalidKeyPackage("KeyPackage protocol version is not mls10")
    if key_package.cipher_suite != suite.suite_id:
        raise InvalidKeyPackage(
            f"KeyPackage cipher suite {key_package.cipher_suite} is not the group's "
            f"({suite.suite_id})"
        )
    if key_package.leaf_node.leaf_node_source is not LeafNodeSource.KEY_PACKAGE:
        raise InvalidKeyPackage("KeyPackage leaf node source is not key_package")
    if not key_package.verify_signature(suite):
        raise InvalidKeyPackage("KeyPackage signature does not verify")
    if key_package.init_key == key_package.leaf_node.encryption_key:
        raise InvalidKeyPackage("KeyPackage init_key equals its leaf encryption_key")


@dataclass(frozen=True, slots=True)
class KeyPackageBundle:
    """A KeyPackage with the private keys its owner needs to join from a Welcome."""

    key_package: KeyPackage
    init_priv: bytes
    encryption_priv: bytes
    signature_priv: bytes


def create_key_package(
    suite: CipherSuite,
    signature_priv: bytes,
    credential: Credential,
    *,
    lifetime: Lifetime,
    capabilities: Capabilities | None = None,
    extensions: tuple[Extension, ...] = (),
) -> KeyPackageBundle:
    """A signed KeyPackage with fresh init and encryption keys (section 10)."""
    init_priv, init_pub = suite.generate_hpke_key_pair()
    encryption_priv, encryption_pub = suite.generate_hpke_key_pair()
    leaf = LeafNode(
        encryption_key=encryption_pub,
        signature_key=suite.signature_public_key(signature_priv),
        credential=credential,
        capabilities=capabilities or Capabilities(cipher_suites=(suite.suite_id,)),
        leaf_node_source=LeafNodeSource.KEY_PACKAGE,
        lifetime=lifetime,
    ).signed(suite, signature_priv, b"", 0)
    unsigned = KeyPackage(ProtocolVersion.MLS10, suite.suite_id, init_pub, leaf, extensions)
    return KeyPackageBundle(
        unsigned.signed(suite, signature_priv), init_priv, encryption_priv, signature_priv
    )


def encode_bundle(bundle: KeyPackageBundle) -> bytes:
    """A local (non-RFC) encoding of a bundle, to keep it until a Welcome arrives. It holds
    private keys: store it encrypted."""
    w = Writer()
    bundle.key_package.encode(w)
    w.opaque(bundle.init_priv).opaque(bundle.encryption_priv).opaque(bundle.signature_priv)
    return w.bytes()


def decode_bundle(data: bytes) -> KeyPackageBundle:
    """The bundle saved by ``encode_bundle``; raises ``DecodeError`` for anything else."""

    def read(r: Reader) -> KeyPackageBundle:
        return KeyPackageBundle(KeyPackage.decode(r), r.opaque(), r.opaque(), r.opaque())

    return decode_all(data, read)
