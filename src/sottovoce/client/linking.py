"""Device linking: a new device receives the user's identity key from an existing device, end to
end encrypted, through the server's to-device mailbox.

1. The NEW device calls ``LinkRequest.generate(device_id)`` and shows ``request.payload``
   (``sotto-link:<device_id>:<base64url X25519 public key>``) as text or a QR code.
2. The user types or scans it into an EXISTING device, which calls ``parse_link_payload`` then
   ``seal_link_bundle`` and sends the bytes to the new device's mailbox.
3. The new device calls ``request.open(bundle)``.

Guarantees:

- The public key travels only from screen to screen, never through the server, so the server
  cannot substitute its own key; the bundle is HPKE-sealed to it (the MLS suite's
  ``EncryptWithLabel`` under a Sottovoce label), so the server cannot read it.
- The bundle is bound to the target device id and public key: it opens only on the device that
  showed the payload, and any change to it is rejected (``LinkRejected``).
- Whoever saw the payload could seal a bundle too. The new device must therefore check the
  received identity key against the one the server publishes for the user (pass
  ``expected_identity_key``) before it trusts it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Self

from sottovoce.client.e2ee_errors import InvalidLinkPayload, LinkRejected
from sottovoce.client.identity import IdentityKeyPair
from sottovoce.core.ids import DEVICE_ID
from sottovoce.mls._codec import Reader, Writer
from sottovoce.mls._suite import MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519 as _SUITE
from sottovoce.mls.errors import CryptoError, DecodeError

PAYLOAD_PREFIX = "sotto-link"
LINK_LABEL = b"Sottovoce device link v1"
_BUNDLE_VERSION = 1
_X25519_KEY_LEN = 32
_SEED_LEN = 32


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What the existing device learns from the payload."""

    device_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class LinkedIdentity:
    """What the new device receives."""

    user_id: str
    identity: IdentityKeyPair


def _context(device_id: str, public_key: bytes) -> bytes:
    return Writer().opaque(device_id.encode()).opaque(public_key).bytes()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_link_payload(text: str) -> LinkTarget:
    """The device id and public key in a ``sotto-link:`` payload, strictly checked."""
    parts = text.strip().split(":")
    if len(parts) != 3 or parts[0] != PAYLOAD_PREFIX:
        raise InvalidLinkPayload("expected sotto-link:<device id>:<key> as shown on the new device")
    _, device_id, encoded = parts
    if not DEVICE_ID.fullmatch(device_id):
        raise InvalidLinkPayload("the device id in the link payload is malformed")
    try:
        public_key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        raise InvalidLinkPayload("the key in the link payload is not base64url") from None
    # Re-encoding must give the same text, so that one key has exactly one payload.
    if len(public_key) != _X25519_KEY_LEN or _b64url(public_key) != encoded:
        raise InvalidLinkPayload("the key in the link payload is not an X25519 public key")
    return LinkTarget(device_id, public_key)


@dataclass(frozen=True, slots=True, repr=False)
class LinkRequest:
    """The new device's side: its one-time key pair. Keep it only until the bundle arrives."""

    device_id: str
    private_key: bytes
    public_key: bytes

    @classmethod
    def generate(cls, device_id: str) -> Self:
        if not DEVICE_ID.fullmatch(device_id):
            raise ValueError(f"not a device id: {device_id!r}")
        private, public = _SUITE.generate_hpke_key_pair()
        return cls(device_id, private, public)

    @property
    def payload(self) -> str:
        return f"{PAYLOAD_PREFIX}:{self.device_id}:{_b64url(self.public_key)}"

    def __repr__(self) -> str:
        return f"LinkRequest({self.device_id})"

    def open(self, bundle: bytes, expected_identity_key: bytes | None = None) -> LinkedIdentity:
        """The identity sent by the existing device. ``expected_identity_key`` is the key the
        server publishes for the user; a bundle carrying another one is rejected."""
        try:
            r = Reader(bundle)
            version, kem_output, ciphertext = r.u16(), r.opaque(), r.opaque()
            r.done()
            if version != _BUNDLE_VERSION:
                raise DecodeError(f"unknown link bundle version {version}")
            plaintext = _SUITE.decrypt_with_label(
                self.private_key,
                LINK_LABEL,
                _context(self.device_id, self.public_key),
                kem_output,
                ciphertext,
            )
            r = Reader(plaintext)
            user_id, seed = r.opaque().decode(), r.opaque()
            r.done()
            if len(seed) != _SEED_LEN:
                raise DecodeError("the identity key in the link bundle has the wrong length")
        except (DecodeError, CryptoError, UnicodeDecodeError):
            raise LinkRejected(
                "the link bundle cannot be opened: it was altered, or it is for another device "
                "or another link request"
            ) from None
        identity = IdentityKeyPair.from_private(seed)
        if expected_identity_key is not None and identity.public != expected_identity_key:
            raise LinkRejected(
                f"the link bundle carries an identity key other than the one published for "
                f"{user_id}; do not use it"
            )
        return LinkedIdentity(user_id, identity)


def seal_link_bundle(target: LinkTarget, user_id: str, identity: IdentityKeyPair) -> bytes:
    """The existing device's side: the identity key and user id, sealed to the new device."""
    plaintext = Writer().opaque(user_id.encode()).opaque(identity.private).bytes()
    context = _context(target.device_id, target.public_key)
    try:
        kem_output, ciphertext = _SUITE.encrypt_with_label(
            target.public_key, LINK_LABEL, context, plaintext
        )
    except (CryptoError, ValueError):
        # Small-order points give an all-zero shared secret, which X25519 refuses; the MLS
        # suite's HPKE seal lets cryptography's ValueError through for them.
        raise InvalidLinkPayload("the key in the link payload is not usable") from None
    return Writer().u16(_BUNDLE_VERSION).opaque(kem_output).opaque(ciphertext).bytes()
