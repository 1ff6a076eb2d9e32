"""A user's identity key and the device certificates it signs (cross-signing).

Guarantees:

- An identity key is an Ed25519 key pair created once per user, by the first device; later
  devices receive it through device linking (``linking.py``).
- A ``DeviceCertificate`` binds ``(user_id, device_id, device MLS signature key)`` to the identity
  key. Its encoding is what a device puts in its MLS ``BasicCredential.identity``.
- The identity key signs a domain-separated encoding (``"Sottovoce device cert v1"``), so a
  certificate signature can never be replayed as an MLS signature or anything else, and no other
  signature by the identity key can pass as a certificate.
- ``validate_credential`` accepts a credential only if the certificate decodes exactly, its
  signature verifies, it vouches for the very signature key of the MLS leaf, and (when given) it
  is signed by the identity key known for that user. Each failure has its own exception.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sottovoce.client.e2ee_errors import (
    CertificateSignatureInvalid,
    IdentityKeyMismatch,
    InvalidDeviceCertificate,
    MalformedCertificate,
    SignatureKeyMismatch,
)
from sottovoce.mls._codec import Reader, Writer, decode_all, serialize
from sottovoce.mls._group_state import CredentialValidator
from sottovoce.mls._tree_structs import Credential, CredentialType
from sottovoce.mls.errors import DecodeError

CERTIFICATE_LABEL = b"Sottovoce device cert v1"
KEY_LEN = 32
_SIGNATURE_LEN = 64


@dataclass(frozen=True, slots=True, repr=False)
class IdentityKeyPair:
    """A user's Ed25519 identity key: ``private`` is the 32-byte seed, never shown in ``repr``."""

    private: bytes
    public: bytes

    @classmethod
    def generate(cls) -> Self:
        key = Ed25519PrivateKey.generate()
        return cls(key.private_bytes_raw(), key.public_key().public_bytes_raw())

    @classmethod
    def from_private(cls, private: bytes) -> Self:
        """The key pair of a stored or transferred seed; the public half is always recomputed."""
        key = Ed25519PrivateKey.from_private_bytes(private)
        return cls(private, key.public_key().public_bytes_raw())

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.private).sign(message)

    def __repr__(self) -> str:
        return f"IdentityKeyPair(public={self.public.hex()})"


def _signed_content(
    user_id: str, device_id: str, device_signature_key: bytes, identity_key: bytes
) -> bytes:
    return (
        Writer()
        .opaque(CERTIFICATE_LABEL)
        .opaque(user_id.encode())
        .opaque(device_id.encode())
        .opaque(device_signature_key)
        .opaque(identity_key)
        .bytes()
    )


def _read_key(r: Reader, length: int, what: str) -> bytes:
    value = r.opaque()
    if len(value) != length:
        raise DecodeError(f"{what} must be {length} bytes, got {len(value)}")
    return value


def _read_text(r: Reader) -> str:
    try:
        return r.opaque().decode()
    except UnicodeDecodeError:
        raise DecodeError("certificate ids must be UTF-8") from None


@dataclass(frozen=True, slots=True)
class DeviceCertificate:
    """``struct { opaque user_id<V>; opaque device_id<V>; opaque device_signature_key<V>;
    opaque identity_key<V>; opaque signature<V>; }`` in the MLS presentation language."""

    user_id: str
    device_id: str
    device_signature_key: bytes
    identity_key: bytes
    signature: bytes

    def encode(self, w: Writer) -> None:
        w.opaque(self.user_id.encode()).opaque(self.device_id.encode())
        w.opaque(self.device_signature_key).opaque(self.identity_key).opaque(self.signature)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(
            user_id=_read_text(r),
            device_id=_read_text(r),
            device_signature_key=_read_key(r, KEY_LEN, "device signature key"),
            identity_key=_read_key(r, KEY_LEN, "identity key"),
            signature=_read_key(r, _SIGNATURE_LEN, "signature"),
        )

    def to_bytes(self) -> bytes:
        return serialize(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        try:
            return decode_all(data, cls.decode)
        except DecodeError as exc:
            raise MalformedCertificate(f"not a device certificate: {exc}") from None

    def signature_is_valid(self) -> bool:
        content = _signed_content(
            self.user_id, self.device_id, self.device_signature_key, self.identity_key
        )
        try:
            Ed25519PublicKey.from_public_bytes(self.identity_key).verify(self.signature, content)
        except (InvalidSignature, ValueError):
            return False
        return True


def issue_device_certificate(
    identity: IdentityKeyPair, user_id: str, device_id: str, device_signature_key: bytes
) -> DeviceCertificate:
    """The identity key vouches that ``device_signature_key`` is ``user_id``'s ``device_id``."""
    if len(device_signature_key) != KEY_LEN:
        raise ValueError(f"an Ed25519 signature key is {KEY_LEN} bytes")
    content = _signed_content(user_id, device_id, device_signature_key, identity.public)
    return DeviceCertificate(
        user_id, device_id, device_signature_key, identity.public, identity.sign(content)
    )


def validate_credential(
    credential_identity: bytes, leaf_signature_key: bytes, expected_identity_key: bytes | None
) -> DeviceCertificate:
    """The certificate in a BasicCredential, checked against the leaf that carries it.

    ``expected_identity_key`` is the identity key the client holds for the certificate's user
    (from the trust store or the server's key directory); ``None`` checks only that the
    certificate is self-consistent, which is what a client can do before it knows the user.
    """
    cert = DeviceCertificate.from_bytes(credential_identity)
    if not cert.signature_is_valid():
        raise CertificateSignatureInvalid(
            f"the certificate of {cert.user_id} device {cert.device_id} is not signed by its "
            "identity key"
        )
    if cert.device_signature_key != leaf_signature_key:
        raise SignatureKeyMismatch(
            f"the certificate of {cert.user_id} device {cert.device_id} is for another "
            "signature key than the member uses"
        )
    if expected_identity_key is not None and cert.identity_key != expected_identity_key:
        raise IdentityKeyMismatch(
            f"{cert.user_id} device {cert.device_id} is certified by an identity key other "
            "than the one known for that user"
        )
    return cert


IdentityKeyLookup = Callable[[str], bytes | None]
"""``user_id -> identity key`` the client holds for that user, or ``None`` if it has none."""


def credential_validator(lookup: IdentityKeyLookup) -> CredentialValidator:
    """The MLS group hook: accept a member only if its device certificate is valid and signed by
    the identity key ``lookup`` returns for its user. A user ``lookup`` does not know is refused,
    so the caller must fetch (and trust-check) identity keys before processing a commit or
    Welcome that adds that user."""

    def validate(credential: Credential, signature_key: bytes) -> bool:
        if credential.credential_type != CredentialType.BASIC:
            return False
        try:
            cert = validate_credential(credential.identity, signature_key, None)
        except InvalidDeviceCertificate:
            return False
        expected = lookup(cert.user_id)
        return expected is not None and expected == cert.identity_key

    return validate


@dataclass(frozen=True, slots=True, repr=False)
class DeviceKeys:
    """This device's MLS signature key and the certificate that binds it to its user."""

    signature_private: bytes
    certificate: DeviceCertificate

    @classmethod
    def create(cls, identity: IdentityKeyPair, user_id: str, device_id: str) -> Self:
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes_raw()
        cert = issue_device_certificate(identity, user_id, device_id, public)
        return cls(key.private_bytes_raw(), cert)

    @property
    def credential(self) -> Credential:
        """The BasicCredential to put in this device's key packages and leaves."""
        return Credential.basic(self.certificate.to_bytes())

    def encode(self, w: Writer) -> None:
        w.opaque(self.signature_private)
        self.certificate.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(_read_key(r, KEY_LEN, "signature key"), DeviceCertificate.decode(r))

    def __repr__(self) -> str:
        return f"DeviceKeys({self.certificate.user_id} {self.certificate.device_id})"
