"""Errors of the client's end-to-end encryption layer: identities, the local keystore, linking.

They never come from the server (``status`` 0) and never carry key material or plaintext in their
message, so they are safe to print and to log.
"""

from __future__ import annotations

from sottovoce.core.errors import SottoError


class E2EEError(SottoError):
    """Base of every client-side end-to-end encryption error."""

    code = "e2ee_error"
    status = 0


class InvalidDeviceCertificate(E2EEError):
    """A device certificate (the identity in an MLS credential) that must not be trusted."""

    code = "invalid_device_certificate"


class MalformedCertificate(InvalidDeviceCertificate):
    """The credential's bytes are not a device certificate at all."""

    code = "malformed_device_certificate"


class CertificateSignatureInvalid(InvalidDeviceCertificate):
    """The identity key named in the certificate did not sign it."""

    code = "device_certificate_signature_invalid"


class SignatureKeyMismatch(InvalidDeviceCertificate):
    """The certificate vouches for another signature key than the MLS leaf uses."""

    code = "device_signature_key_mismatch"


class IdentityKeyMismatch(InvalidDeviceCertificate):
    """The certificate is signed by an identity key other than the one known for its user."""

    code = "identity_key_mismatch"


class KeystoreError(E2EEError):
    """The local encrypted store cannot be used as asked."""

    code = "keystore_error"


class KeystoreNotFound(KeystoreError):
    """No store at that path yet: create one first."""

    code = "keystore_not_found"


class KeystoreExists(KeystoreError):
    """A store already exists at that path; open it instead of creating it."""

    code = "keystore_exists"


class WrongStoreKey(KeystoreError):
    """The passphrase (or key) does not unlock this store."""

    code = "keystore_wrong_key"


class KeystoreCorrupted(KeystoreError):
    """A sealed value failed authentication: the file was altered or damaged."""

    code = "keystore_corrupted"


class KeySourceUnavailable(KeystoreError):
    """The chosen source of the store key cannot be used: no keyring, missing or unsafe key file."""

    code = "key_source_unavailable"


class LinkingError(E2EEError):
    """The device-linking exchange failed; start it again from the new device."""

    code = "linking_failed"


class InvalidLinkPayload(LinkingError):
    """The text entered or scanned is not a ``sotto-link:`` payload."""

    code = "invalid_link_payload"


class LinkRejected(LinkingError):
    """The linking bundle cannot be opened: tampered, or meant for another device or key."""

    code = "link_rejected"


class PaddingError(E2EEError):
    """A decrypted plaintext whose padding is not the canonical one."""

    code = "invalid_padding"


class TrustError(E2EEError):
    """A trust decision that cannot be taken as asked."""

    code = "trust_error"


class UnknownContact(TrustError):
    """No identity key is known for that user yet: fetch it before verifying."""

    code = "unknown_contact"


class StaleSafetyNumber(TrustError):
    """The contact's identity key changed after the safety number was shown: compare again."""

    code = "stale_safety_number"
