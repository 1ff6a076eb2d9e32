"""HPKE (RFC 9180) for MLS: single-shot base mode from ``cryptography``, plus the pieces it does
not expose: DeriveKeyPair (section 7.1.3) and the base-mode secret exporter (section 5.3), which
MLS needs for path secrets and external joins.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from sottovoce.mls.errors import CryptoError

_VERSION = b"HPKE-v1"
_MODE_BASE = b"\x00"


# HKDF (RFC 5869) on the standard library's one-shot HMAC, which is OpenSSL's too: building an
# HMAC or HKDFExpand object per call cost more than the hashing itself, and MLS derives a few
# secrets for every message it sends or receives.


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    # RFC 5869: an absent salt is HashLen zero bytes, which HMAC key padding makes equal to b"".
    return hmac.digest(salt, ikm, algorithm.name)


def hkdf_expand(algorithm: hashes.HashAlgorithm, prk: bytes, info: bytes, length: int) -> bytes:
    name, size = algorithm.name, algorithm.digest_size
    if length <= size:
        return hmac.digest(prk, info + b"\x01", name)[:length]
    if length > 255 * size:
        raise ValueError(f"HKDF-Expand gives at most {255 * size} bytes, not {length}")
    blocks = [b""]
    for i in range(1, -(-length // size) + 1):
        blocks.append(hmac.digest(prk, blocks[-1] + info + bytes((i,)), name))
    return b"".join(blocks)[:length]


@dataclass(frozen=True, slots=True)
class _LabeledKdf:
    """LabeledExtract / LabeledExpand (RFC 9180 section 4) under one ``suite_id``."""

    algorithm: hashes.HashAlgorithm
    suite_id: bytes

    def extract(self, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return hkdf_extract(self.algorithm, salt, _VERSION + self.suite_id + label + ikm)

    def expand(self, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        labeled_info = length.to_bytes(2, "big") + _VERSION + self.suite_id + label + info
        return hkdf_expand(self.algorithm, prk, labeled_info, length)


class Kem(Protocol):
    """A KEM as MLS uses it; keys are raw bytes. A hybrid (e.g. X-Wing) implements the same."""

    @property
    def kem_id(self) -> int: ...
    @property
    def enc_len(self) -> int: ...
    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]: ...
    def public_key(self, private_key: bytes) -> bytes: ...
    def generate(self) -> tuple[bytes, bytes]: ...
    def encap(self, public_key: bytes, ephemeral_ikm: bytes | None) -> tuple[bytes, bytes]: ...
    def decap(self, enc: bytes, private_key: bytes) -> bytes: ...
    def seal(self, suite: hpke.Suite, public_key: bytes, info: bytes, pt: bytes) -> bytes: ...
    def open(self, suite: hpke.Suite, private_key: bytes, info: bytes, sealed: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class DhKemX25519:
    """DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1."""

    kem_id: int = 0x0020
    enc_len: int = 32
    _secret_len: int = 32

    @property
    def _kdf(self) -> _LabeledKdf:
        return _LabeledKdf(hashes.SHA256(), b"KEM" + self.kem_id.to_bytes(2, "big"))

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        kdf = self._kdf
        dkp_prk = kdf.extract(b"", b"dkp_prk", ikm)
        private = kdf.expand(dkp_prk, b"sk", b"", self._secret_len)
        return private, self.public_key(private)

    def public_key(self, private_key: bytes) -> bytes:
        return _x25519_private(private_key).public_key().public_bytes_raw()

    def generate(self) -> tuple[bytes, bytes]:
        key = X25519PrivateKey.generate()
        return key.private_bytes_raw(), key.public_key().public_bytes_raw()

    def encap(self, public_key: bytes, ephemeral_ikm: bytes | None) -> tuple[bytes, bytes]:
        """``(shared_secret, enc)``; ``ephemeral_ikm`` makes it deterministic (for tests)."""
        if ephemeral_ikm is None:
            ephemeral, enc = self.generate()
        else:
            ephemeral, enc = self.derive_key_pair(ephemeral_ikm)
        dh = _exchange(ephemeral, public_key)
        return self._extract_and_expand(dh, enc + public_key), enc

    def decap(self, enc: bytes, private_key: bytes) -> bytes:
        dh = _exchange(private_key, enc)
        return self._extract_and_expand(dh, enc + self.public_key(private_key))

    def _extract_and_expand(self, dh: bytes, kem_context: bytes) -> bytes:
        kdf = self._kdf
        eae_prk = kdf.extract(b"", b"eae_prk", dh)
        return kdf.expand(eae_prk, b"shared_secret", kem_context, self._secret_len)

    def seal(self, suite: hpke.Suite, public_key: bytes, info: bytes, pt: bytes) -> bytes:
        recipient = _x25519_public(public_key)
        try:
            return suite.encrypt(pt, recipient, info=info)
        except ValueError as exc:
            # cryptography refuses the all-zero shared secret of a small-order key this way.
            raise CryptoError("HPKE public key is of small order (RFC 9180 section 7.1.4)") from exc

    def open(self, suite: hpke.Suite, private_key: bytes, info: bytes, sealed: bytes) -> bytes:
        return suite.decrypt(sealed, _x25519_private(private_key), info=info)


def _x25519_private(private_key: bytes) -> X25519PrivateKey:
    try:
        return X25519PrivateKey.from_private_bytes(private_key)
    except ValueError as exc:
        raise CryptoError("HPKE private key is not a 32-byte X25519 key") from exc


@lru_cache(maxsize=4096)
def _x25519_public(public_key: bytes) -> X25519PublicKey:
    # A commit encrypts to the same members' keys as the one before, up to one per member.
    try:
        return X25519PublicKey.from_public_bytes(public_key)
    except ValueError as exc:
        raise CryptoError("HPKE public key is not a 32-byte X25519 key") from exc


def _exchange(private_key: bytes, public_key: bytes) -> bytes:
    try:
        return _x25519_private(private_key).exchange(_x25519_public(public_key))
    except ValueError as exc:
        # An all-zero shared secret: the peer key is of small order (RFC 9180 section 7.1.4).
        raise CryptoError("X25519 exchange with an invalid public key") from exc


@dataclass(frozen=True, slots=True)
class Hpke:
    """One HPKE ciphersuite (KEM, KDF, AEAD) in base mode."""

    kem: Kem
    kdf_id: int
    aead_id: int
    kdf_hash: hashes.HashAlgorithm
    _suite: hpke.Suite

    @property
    def _kdf(self) -> _LabeledKdf:
        suite_id = b"HPKE" + b"".join(
            i.to_bytes(2, "big") for i in (self.kem.kem_id, self.kdf_id, self.aead_id)
        )
        return _LabeledKdf(self.kdf_hash, suite_id)

    def seal(self, public_key: bytes, info: bytes, plaintext: bytes) -> tuple[bytes, bytes]:
        """Single-shot SealBase with empty aad: ``(enc, ciphertext)``."""
        sealed = self.kem.seal(self._suite, public_key, info, plaintext)
        return sealed[: self.kem.enc_len], sealed[self.kem.enc_len :]

    def open(self, private_key: bytes, enc: bytes, info: bytes, ciphertext: bytes) -> bytes:
        if len(enc) != self.kem.enc_len:
            raise CryptoError("HPKE enc has the wrong length")
        try:
            return self.kem.open(self._suite, private_key, info, enc + ciphertext)
        except (InvalidTag, ValueError) as exc:
            raise CryptoError("HPKE decryption failed: wrong key, or tampered data") from exc

    def _exporter_secret(self, shared_secret: bytes, info: bytes) -> bytes:
        kdf = self._kdf
        psk_id_hash = kdf.extract(b"", b"psk_id_hash", b"")
        info_hash = kdf.extract(b"", b"info_hash", info)
        context = _MODE_BASE + psk_id_hash + info_hash
        secret = kdf.extract(shared_secret, b"secret", b"")
        return kdf.expand(secret, b"exp", context, self.kdf_hash.digest_size)

    def export_to(
        self,
        public_key: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
        ephemeral_ikm: bytes | None = None,
    ) -> tuple[bytes, bytes]:
        """SetupBaseS then Export: ``(enc, exported secret)``."""
        shared_secret, enc = self.kem.encap(public_key, ephemeral_ikm)
        exporter_secret = self._exporter_secret(shared_secret, info)
        return enc, self._kdf.expand(exporter_secret, b"sec", exporter_context, length)

    def export_from(
        self, private_key: bytes, enc: bytes, info: bytes, exporter_context: bytes, length: int
    ) -> bytes:
        """SetupBaseR then Export: the secret the holder of ``enc``'s sender exported."""
        if len(enc) != self.kem.enc_len:
            raise CryptoError("HPKE enc has the wrong length")
        exporter_secret = self._exporter_secret(self.kem.decap(enc, private_key), info)
        return self._kdf.expand(exporter_secret, b"sec", exporter_context, length)
