"""MLS (RFC 9420) in pure Python, sans-I/O, on the ``cryptography`` package.

The public surface: make a key package, create or join a group, then feed it bytes and send
the bytes it returns. Everything else lives in ``_``-prefixed modules::

    bundle = generate_key_package(b"alice")
    group = Group.create(b"room-1", bundle, GroupConfig(credential_validator=my_check))
    out = group.commit(add=[parse_key_package(bob_key_package_bytes)])
    ... deliver out.message to the group and out.welcome to Bob, then:
    group.merge_pending_commit()
    ciphertext = group.encrypt(b"hello")

Bob joins with ``Group.join(out.welcome, bob_bundle, config)``; the Welcome carries the
ratchet tree, or send ``group.ratchet_tree()`` beside it and pass it as ``ratchet_tree=``.
Every error is an ``MLSError`` (see ``sottovoce.mls.errors``) and leaves the group unchanged.

``Group.branch`` and ``Group.reinit_continue`` start a new group tied to the old one by a
resumption PSK (RFC 9420 sections 11.2, 11.3); its members join with
``Group.join(..., resumption_from=old_group)``. A party outside the group listed in its
``external_senders_extension`` (a delivery service, say) sends proposals with
``external_add_proposal`` / ``external_remove_proposal``, which ``Group.process`` accepts.

Only cipher suite 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) is implemented.
"""

from __future__ import annotations

import time

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._external_senders import (
    ExternalSender,
    external_add_proposal,
    external_remove_proposal,
    external_senders_extension,
)
from sottovoce.mls._framing_structs import MLSMessage, Sender, SenderType
from sottovoce.mls._group import (
    ApplicationMessage,
    CommitApplied,
    CommitOutput,
    Group,
    ProposalReceived,
    Received,
)
from sottovoce.mls._group_state import CredentialValidator, GroupConfig, accept_any_credential
from sottovoce.mls._key_package import (
    KeyPackage,
    KeyPackageBundle,
    create_key_package,
    decode_bundle,
    encode_bundle,
    validate_key_package,
)
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import (
    Credential,
    Extension,
    ExtensionType,
    Lifetime,
    RequiredCapabilities,
)
from sottovoce.mls.errors import DecodeError, InvalidKeyPackage, MLSError

DEFAULT_SUITE = 1
KEY_PACKAGE_LIFETIME = 90 * 86400
"""Seconds a generated key package stays valid."""


def generate_key_package(
    identity: bytes,
    *,
    signature_priv: bytes | None = None,
    suite_id: int = DEFAULT_SUITE,
    now: int | None = None,
) -> KeyPackageBundle:
    """A fresh key package for a basic credential; reuse ``signature_priv`` across a device's
    key packages so the device keeps one signing identity. Valid from an hour before ``now``
    (tolerating clock skew) for ``KEY_PACKAGE_LIFETIME`` seconds."""
    suite = get_suite(suite_id)
    if signature_priv is None:
        signature_priv, _ = suite.generate_signature_key_pair()
    start = int(time.time()) if now is None else now
    lifetime = Lifetime(start - 3600, start + KEY_PACKAGE_LIFETIME)
    return create_key_package(suite, signature_priv, Credential.basic(identity), lifetime=lifetime)


def key_package_message(bundle: KeyPackageBundle) -> bytes:
    """The key package as an MLSMessage, to publish."""
    return serialize(MLSMessage(bundle.key_package))


def parse_key_package(data: bytes) -> KeyPackage:
    """A published key package, with its signature and keys checked (RFC 9420 section 10.1)."""
    message = decode_all(data, MLSMessage.decode).body
    if not isinstance(message, KeyPackage):
        raise DecodeError("expected a KeyPackage message")
    validate_key_package(message, get_suite(message.cipher_suite))
    return message


__all__ = [
    "ApplicationMessage",
    "CommitApplied",
    "CommitOutput",
    "Credential",
    "CredentialValidator",
    "Extension",
    "ExtensionType",
    "ExternalSender",
    "Group",
    "GroupConfig",
    "InvalidKeyPackage",
    "KeyPackage",
    "KeyPackageBundle",
    "MLSError",
    "ProposalReceived",
    "Received",
    "RequiredCapabilities",
    "Sender",
    "SenderType",
    "accept_any_credential",
    "decode_bundle",
    "encode_bundle",
    "external_add_proposal",
    "external_remove_proposal",
    "external_senders_extension",
    "generate_key_package",
    "key_package_message",
    "parse_key_package",
]
