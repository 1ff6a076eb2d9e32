"""Cipher suites (RFC 9420 section 5.1) and the labeled operations built on them.

A suite is a parameter object: hash, AEAD, HPKE KEM and signature scheme. Adding a suite means
adding an instance to ``_SUITES``; nothing else branches on the suite id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sottovoce.mls._codec import Writer
from sottovoce.mls.errors import CryptoError, UnsupportedCipherSuite

_MLS_LABEL_PREFIX = b"MLS 1.0 "


def _mls_label(label: bytes) -> bytes:
    return _MLS_LABEL_PREFIX + label


def ref_hash_input(label: bytes, value: bytes) -> bytes:
    """RFC 9420 ``RefHashInput`` with ``label`` taken verbatim, as the RFC's RefHash does."""
    return Writer().opaque(label).opaque(value).bytes()


def _hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    # RFC 5869: an absent salt is HashLen zero bytes, which HMAC key padding makes equal to b"".
    h = hmac.HMAC(salt, algorithm)
    h.update(ikm)
    return h.finalize()


def _hkdf_expand(algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(algorithm, length, info).derive(prk)


class _Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class _AeadFactory(Protocol):
    def __call__(self, key: bytes) -> _Aead: ...


@dataclass(frozen=True, slots=True)
class _DhKemX25519:
    """DHKEM(X25519, HKDF-SHA256) key handling; encapsulation itself is left to ``hpke``."""

    kem_id: int = 0x0020
    private_key_len: int = 32
    enc_len: int = 32

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        # RFC 9180 section 7.1.3 with the KEM's own suite id, not the full HPKE suite id.
        suite_id = b"KEM" + self.kem_id.to_bytes(2, "big")
        sha256 = hashes.SHA256()
        dkp_prk = _hkdf_extract(sha256, b"", b"HPKE-v1" + suite_id + b"dkp_prk" + ikm)
        info = self.private_key_len.to_bytes(2, "big") + b"HPKE-v1" + suite_id + b"sk"
        private = _hkdf_expand(sha256, dkp_prk, info, self.private_key_len)
        return private, self.public_key(private)

    def public_key(self, private_key: bytes) -> bytes:
        return self.load_private(private_key).public_key().public_bytes_raw()

    def generate(self) -> tuple[bytes, bytes]:
        key = X25519PrivateKey.generate()
        return key.private_bytes_raw(), key.public_key().public_bytes_raw()

    def load_private(self, private_key: bytes) -> X25519PrivateKey:
        try:
            return X25519PrivateKey.from_private_bytes(private_key)
        except ValueError as exc:
            raise CryptoError("HPKE private key is not a 32-byte X25519 key") from exc

    def load_public(self, public_key: bytes) -> X25519PublicKey:
        try:
            return X25519PublicKey.from_public_bytes(public_key)
        except ValueError as exc:
            raise CryptoError("HPKE public key is not a 32-byte X25519 key") from exc


@dataclass(frozen=True, slots=True)
class _Ed25519:
    """Ed25519 with the 32-byte seed as private key (RFC 8032 section 5.1.5)."""

    def sign(self, private_key: bytes, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(private_key).sign(message)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
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
    _kem: _DhKemX25519
    _hpke: hpke.Suite
    _signature: _Ed25519

    def hash(self, data: bytes) -> bytes:
        h = hashes.Hash(self._hash)
        h.update(data)
        return h.finalize()

    def mac(self, key: bytes, data: bytes) -> bytes:
        return _hkdf_extract(self._hash, key, data)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return _hkdf_extract(self._hash, salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        return _hkdf_expand(self._hash, prk, info, length)

    def expand_with_label(self, secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
        kdf_label = Writer().u16(length).opaque(_mls_label(label)).opaque(context).bytes()
        return self.expand(secret, kdf_label, length)

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
        sealed = self._hpke.encrypt(
            plaintext, self._kem.load_public(public_key), info=self._encrypt_context(label, context)
        )
        return sealed[: self._kem.enc_len], sealed[self._kem.enc_len :]

    def decrypt_with_label(
        self,
        private_key: bytes,
        label: bytes,
        context: bytes,
        kem_output: bytes,
        ciphertext: bytes,
    ) -> bytes:
        if len(kem_output) != self._kem.enc_len:
            raise CryptoError("HPKE kem_output has the wrong length")
        try:
            return self._hpke.decrypt(
                kem_output + ciphertext,
                self._kem.load_private(private_key),
                info=self._encrypt_context(label, context),
            )
        except (InvalidTag, ValueError) as exc:
            raise CryptoError("HPKE decryption failed: wrong key, or tampered data") from exc

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        return self._kem.derive_key_pair(ikm)

    def public_key(self, private_key: bytes) -> bytes:
        return self._kem.public_key(private_key)

    def signature_public_key(self, signature_priv: bytes) -> bytes:
        return self._signature.public_key(signature_priv)

    def generate_signature_key_pair(self) -> tuple[bytes, bytes]:
        return self._signature.generate()

    def generate_hpke_key_pair(self) -> tuple[bytes, bytes]:
        return self._kem.generate()


MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519 = CipherSuite(
    suite_id=1,
    hash_len=32,
    aead_key_len=16,
    aead_nonce_len=12,
    _hash=hashes.SHA256(),
    _aead=AESGCM,
    _kem=_DhKemX25519(),
    _hpke=hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM),
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
