"""Cipher suites (RFC 9420 section 5.1) and the labeled operations built on them.

A suite is a parameter object: hash, AEAD, HPKE KEM and signature scheme. Adding a suite means
adding an instance to ``_SUITES``; nothing else branches on the suite id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sottovoce.mls._codec import Writer, encode_varint
from sottovoce.mls._hpke import DhKemX25519, Hpke, hkdf_expand, hkdf_extract
from sottovoce.mls.errors import CryptoError, UnsupportedCipherSuite

_MLS_LABEL_PREFIX = b"MLS 1.0 "


def _mls_label(label: bytes) -> bytes:
    return _MLS_LABEL_PREFIX + label


def ref_hash_input(label: bytes, value: bytes) -> bytes:
    """RFC 9420 ``RefHashInput`` with ``label`` taken verbatim, as the RFC's RefHash does."""
    return Writer().opaque(label).opaque(value).bytes()


class _Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class _AeadFactory(Protocol):
    def __call__(self, key: bytes) -> _Aead: ...


class _SignatureScheme(Protocol):
    def sign(self, private_key: bytes, message: bytes) -> bytes: ...
    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...
    def public_key(self, private_key: bytes) -> bytes: ...
    def generate(self) -> tuple[bytes, bytes]: ...


@lru_cache(maxsize=64)
def _kdf_label_head(length: int, label: bytes) -> bytes:
    """``length`` and ``label`` of a KDFLabel, encoded: the part that repeats across calls."""
    return Writer().u16(length).opaque(_mls_label(label)).bytes()


@lru_cache(maxsize=16)
def _signing_key(seed: bytes) -> Ed25519PrivateKey:
    # Loading a seed expands it (a SHA-512 and a scalar multiplication), which cost as much as
    # a quarter of each signature; a member signs every message with the same few keys.
    return Ed25519PrivateKey.from_private_bytes(seed)


@lru_cache(maxsize=4096)
def _verifying_key(public_key: bytes) -> Ed25519PublicKey:
    # A group verifies every message of a member with the same leaf key; sized for a group of
    # a few thousand members. A malformed key raises and is not cached.
    return Ed25519PublicKey.from_public_bytes(public_key)


@dataclass(frozen=True, slots=True)
class _Ed25519:
    """Ed25519 with the 32-byte seed as private key (RFC 8032 section 5.1.5)."""

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        return _signing_key(private_key).sign(message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            _verifying_key(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def public_key(self, private_key: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()

    def generate(self) -> tuple[bytes, bytes]:
        key = Ed25519PrivateKey.generate()
        return key.private_bytes_raw(), key.public_key().public_bytes_raw()


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One MLS cipher suite. Labels are given without the ``"MLS 1.0 "`` prefix."""

    suite_id: int
    hash_len: int
    aead_key_len: int
    aead_nonce_len: int
    _hash: hashes.HashAlgorithm
    _aead: _AeadFactory
    _hpke: Hpke
    _signature: _SignatureScheme

    def hash(self, data: bytes) -> bytes:
        return hashlib.new(self._hash.name, data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hkdf_extract(self._hash, key, data)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return hkdf_extract(self._hash, salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        return hkdf_expand(self._hash, prk, info, length)

    def expand_with_label(self, secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
        # KDFLabel encoded by hand from a cached head: it is built for every derived key, and
        # a Writer's method calls cost more than the HMAC that consumes it.
        kdf_label = _kdf_label_head(length, label) + encode_varint(len(context)) + context
        return hkdf_expand(self._hash, secret, kdf_label, length)

    def derive_secret(self, secret: bytes, label: bytes) -> bytes:
        return self.expand_with_label(secret, label, b"", self.hash_len)

    def derive_tree_secret(
        self, secret: bytes, label: bytes, generation: int, length: int
    ) -> bytes:
        return self.expand_with_label(secret, label, generation.to_bytes(4, "big"), length)

    def ref_hash(self, label: bytes, value: bytes) -> bytes:
        # The RFC's callers spell the prefix into the label ("MLS 1.0 KeyPackage Reference");
        # here, like every other labeled operation, the suite adds it.
        return self.hash(ref_hash_input(_mls_label(label), value))

    def seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        self._check_aead_params(key, nonce)
        return self._aead(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        self._check_aead_params(key, nonce)
        try:
            return self._aead(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag as exc:
            raise CryptoError("AEAD decryption failed: wrong key, or tampered data") from exc

    def _check_aead_params(self, key: bytes, nonce: bytes) -> None:
        if len(key) != self.aead_key_len or len(nonce) != self.aead_nonce_len:
            raise CryptoError(
                f"AEAD needs a {self.aead_key_len}-byte key and a {self.aead_nonce_len}-byte nonce"
            )

    def _sign_content(self, label: bytes, content: bytes) -> bytes:
        return Writer().opaque(_mls_label(label)).opaque(content).bytes()

    def sign_with_label(self, signature_priv: bytes, label: bytes, content: bytes) -> bytes:
        return self._signature.sign(signature_priv, self._sign_content(label, content))

    def verify_with_label(
        self, signature_pub: bytes, label: bytes, content: bytes, signature: bytes
    ) -> bool:
        return self._signature.verify(signature_pub, self._sign_content(label, content), signature)

    def _encrypt_context(self, label: bytes, context: bytes) -> bytes:
        return Writer().opaque(_mls_label(label)).opaque(context).bytes()

    def encrypt_with_label(
        self, public_key: bytes, label: bytes, context: bytes, plaintext: bytes
    ) -> tuple[bytes, bytes]:
        return self._hpke.seal(public_key, self._encrypt_context(label, context), plaintext)

    def encrypt_with_label_to_each(
        self, public_keys: Iterable[bytes], label: bytes, context: bytes, plaintext: bytes
    ) -> list[tuple[bytes, bytes]]:
        """``encrypt_with_label`` of one plaintext to each key, each with its own ephemeral
        key; the HPKE info is built once (an UpdatePath node can have a recipient per member)."""
        info = self._encrypt_context(label, context)
        seal = self._hpke.seal
        return [seal(public_key, info, plaintext) for public_key in public_keys]

    def decrypt_with_label(
        self,
        private_key: bytes,
        label: bytes,
        context: bytes,
        kem_output: bytes,
        ciphertext: bytes,
    ) -> bytes:
        info = self._encrypt_context(label, context)
        return self._hpke.open(private_key, kem_output, info, ciphertext)

    def hpke_export_sender(
        self,
        public_key: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
        ephemeral_ikm: bytes | None = None,
    ) -> tuple[bytes, bytes]:
        """HPKE SetupBaseS + Export: ``(kem_output, secret)``; random unless ``ephemeral_ikm``."""
        return self._hpke.export_to(public_key, info, exporter_context, length, ephemeral_ikm)

    def hpke_export_receiver(
        self,
        private_key: bytes,
        kem_output: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
    ) -> bytes:
        """HPKE SetupBaseR + Export: the secret the sender of ``kem_output`` exported."""
        return self._hpke.export_from(private_key, kem_output, info, exporter_context, length)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        return self._hpke.kem.derive_key_pair(ikm)

    def public_key(self, private_key: bytes) -> bytes:
        return self._hpke.kem.public_key(private_key)

    def signature_public_key(self, signature_priv: bytes) -> bytes:
        return self._signature.public_key(signature_priv)

    def generate_signature_key_pair(self) -> tuple[bytes, bytes]:
        return self._signature.generate()

    def generate_hpke_key_pair(self) -> tuple[bytes, bytes]:
        return self._hpke.kem.generate()


MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519 = CipherSuite(
    suite_id=1,
    hash_len=32,
    aead_key_len=16,
    aead_nonce_len=12,
    _hash=hashes.SHA256(),
    _aead=AESGCM,
    _hpke=Hpke(
        kem=DhKemX25519(),
        kdf_id=0x0001,
        aead_id=0x0001,
        kdf_hash=hashes.SHA256(),
        _suite=hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM),
    ),
    _signature=_Ed25519(),
)

_SUITES = {suite.suite_id: suite for suite in (MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,)}


def get_suite(suite_id: int) -> CipherSuite:
    try:
        return _SUITES[suite_id]
    except KeyError:
        raise UnsupportedCipherSuite(f"cipher suite {suite_id} is not supported") from None


def is_supported(suite_id: int) -> bool:
    return suite_id in _SUITES
