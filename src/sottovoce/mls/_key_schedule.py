"""The MLS key schedule (RFC 9420 section 8): from one epoch's secrets to the next.

Every function takes the serialized GroupContext, so the schedule does not depend on how the
caller builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.mls._suite import CipherSuite


@dataclass(frozen=True, slots=True)
class EpochSecrets:
    """The secrets of one epoch, derived from ``epoch_secret`` (RFC 9420 table 4)."""

    joiner_secret: bytes
    welcome_secret: bytes
    sender_data_secret: bytes
    encryption_secret: bytes
    exporter_secret: bytes
    external_secret: bytes
    confirmation_key: bytes
    membership_key: bytes
    resumption_psk: bytes
    epoch_authenticator: bytes
    init_secret: bytes
    """The next epoch's ``init_secret``."""


def zero_secret(suite: CipherSuite) -> bytes:
    """The all-zero secret the RFC writes as ``0``: no commit path, no PSKs, the first epoch."""
    return bytes(suite.hash_len)


def derive_joiner_secret(
    suite: CipherSuite, init_secret: bytes, commit_secret: bytes, group_context: bytes
) -> bytes:
    prk = suite.extract(init_secret, commit_secret)
    return suite.expand_with_label(prk, b"joiner", group_context, suite.hash_len)


def derive_welcome_secret(suite: CipherSuite, joiner_secret: bytes, psk_secret: bytes) -> bytes:
    return suite.derive_secret(suite.extract(joiner_secret, psk_secret), b"welcome")


def welcome_key_and_nonce(suite: CipherSuite, welcome_secret: bytes) -> tuple[bytes, bytes]:
    """The AEAD key and nonce that encrypt a Welcome's GroupInfo (RFC 9420 section 12.4.3.1)."""
    key = suite.expand_with_label(welcome_secret, b"key", b"", suite.aead_key_len)
    nonce = suite.expand_with_label(welcome_secret, b"nonce", b"", suite.aead_nonce_len)
    return key, nonce


def epoch_secrets_from_joiner(
    suite: CipherSuite, joiner_secret: bytes, psk_secret: bytes, group_context: bytes
) -> EpochSecrets:
    """A new member's entry point: the Welcome carries ``joiner_secret``."""
    member_prk = suite.extract(joiner_secret, psk_secret)
    epoch_secret = suite.expand_with_label(member_prk, b"epoch", group_context, suite.hash_len)

    def derive(label: bytes) -> bytes:
        return suite.derive_secret(epoch_secret, label)

    return EpochSecrets(
        joiner_secret=joiner_secret,
        welcome_secret=suite.derive_secret(member_prk, b"welcome"),
        sender_data_secret=derive(b"sender data"),
        encryption_secret=derive(b"encryption"),
        exporter_secret=derive(b"exporter"),
        external_secret=derive(b"external"),
        confirmation_key=derive(b"confirm"),
        membership_key=derive(b"membership"),
        resumption_psk=derive(b"resumption"),
        epoch_authenticator=derive(b"authentication"),
        init_secret=derive(b"init"),
    )


def derive_epoch_secrets(
    suite: CipherSuite,
    init_secret: bytes,
    commit_secret: bytes,
    psk_secret: bytes,
    group_context: bytes,
) -> EpochSecrets:
    """An existing member's step: previous ``init_secret`` plus this commit's secrets.

    ``group_context`` is the new epoch's GroupContext, serialized.
    """
    joiner = derive_joiner_secret(suite, init_secret, commit_secret, group_context)
    return epoch_secrets_from_joiner(suite, joiner, psk_secret, group_context)


def export_secret(
    suite: CipherSuite, exporter_secret: bytes, label: bytes, context: bytes, length: int
) -> bytes:
    """MLS-Exporter (RFC 9420 section 8.5)."""
    secret = suite.derive_secret(exporter_secret, label)
    return suite.expand_with_label(secret, b"exported", suite.hash(context), length)


def external_key_pair(suite: CipherSuite, external_secret: bytes) -> tuple[bytes, bytes]:
    """The epoch's external HPKE key pair that external joiners encrypt to (section 8.3)."""
    return suite.derive_key_pair(external_secret)


# The exporter context is spelled with its prefix here: it is HPKE's, not an MLS label.
_EXTERNAL_INIT_CONTEXT = b"MLS 1.0 external init secret"


def external_init(
    suite: CipherSuite, external_pub: bytes, ephemeral_ikm: bytes | None = None
) -> tuple[bytes, bytes]:
    """An external joiner's ``(kem_output, init_secret)`` for the ExternalInit proposal."""
    return suite.hpke_export_sender(
        external_pub, b"", _EXTERNAL_INIT_CONTEXT, suite.hash_len, ephemeral_ikm
    )


def external_init_secret(suite: CipherSuite, external_priv: bytes, kem_output: bytes) -> bytes:
    """A member's view of an ExternalInit: the ``init_secret`` the joiner derived."""
    return suite.hpke_export_receiver(
        external_priv, kem_output, b"", _EXTERNAL_INIT_CONTEXT, suite.hash_len
    )


def sender_data_key_and_nonce(
    suite: CipherSuite, sender_data_secret: bytes, ciphertext: bytes
) -> tuple[bytes, bytes]:
    """Keys for a PrivateMessage's sender data, bound to a sample of its content ciphertext."""
    sample = ciphertext[: suite.hash_len]
    key = suite.expand_with_label(sender_data_secret, b"key", sample, suite.aead_key_len)
    nonce = suite.expand_with_label(sender_data_secret, b"nonce", sample, suite.aead_nonce_len)
    return key, nonce
