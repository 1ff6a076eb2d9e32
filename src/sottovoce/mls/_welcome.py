"""GroupInfo and Welcome (RFC 9420 sections 12.4.3 and 12.4.3.1): structures, signing and
encryption. Deciding whether a joiner may trust what it decrypted is the group's job."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Self

from sottovoce.mls._codec import Reader, Writer, decode_all, serialize
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_package import KeyPackage
from sottovoce.mls._key_schedule import welcome_key_and_nonce
from sottovoce.mls._proposals import PreSharedKeyID
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._tree_structs import Extension, HPKECiphertext, read_extensions, write_extension
from sottovoce.mls.errors import DecodeError, InvalidWelcome

_GROUP_INFO_LABEL = b"GroupInfoTBS"
_WELCOME_LABEL = b"Welcome"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group_context: GroupContext
    extensions: tuple[Extension, ...]
    confirmation_tag: bytes
    signer: int
    signature: bytes = b""

    def encode_tbs(self, w: Writer) -> None:
        """GroupInfoTBS: every field but the signature."""
        self.group_context.encode(w)
        w.vector(self.extensions, write_extension)
        w.opaque(self.confirmation_tag).u32(self.signer)

    def tbs(self) -> bytes:
        w = Writer()
        self.encode_tbs(w)
        return w.bytes()

    def encode(self, w: Writer) -> None:
        self.encode_tbs(w)
        w.opaque(self.signature)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        group_context = GroupContext.decode(r)
        extensions = read_extensions(r)
        confirmation_tag = r.opaque()
        signer = r.u32()
        return cls(group_context, extensions, confirmation_tag, signer, r.opaque())

    def signed(self, suite: CipherSuite, signature_priv: bytes) -> GroupInfo:
        signature = suite.sign_with_label(signature_priv, _GROUP_INFO_LABEL, self.tbs())
        return replace(self, signature=signature)

    def verify_signature(self, suite: CipherSuite, signature_pub: bytes) -> bool:
        return suite.verify_with_label(signature_pub, _GROUP_INFO_LABEL, self.tbs(), self.signature)


@dataclass(frozen=True, slots=True)
class PathSecret:
    path_secret: bytes

    def encode(self, w: Writer) -> None:
        w.opaque(self.path_secret)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque())


@dataclass(frozen=True, slots=True)
class GroupSecrets:
    joiner_secret: bytes
    path_secret: PathSecret | None
    psks: tuple[PreSharedKeyID, ...]

    def encode(self, w: Writer) -> None:
        w.opaque(self.joiner_secret)
        w.optional(self.path_secret, lambda w, p: p.encode(w))
        w.vector(self.psks, lambda w, p: p.encode(w))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        joiner_secret = r.opaque()
        path_secret = r.optional(PathSecret.decode)
        return cls(joiner_secret, path_secret, tuple(r.vector(PreSharedKeyID.decode)))


@dataclass(frozen=True, slots=True)
class EncryptedGroupSecrets:
    new_member: bytes
    encrypted_group_secrets: HPKECiphertext

    def encode(self, w: Writer) -> None:
        w.opaque(self.new_member)
        self.encrypted_group_secrets.encode(w)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque(), HPKECiphertext.decode(r))


@dataclass(frozen=True, slots=True)
class Welcome:
    cipher_suite: int
    secrets: tuple[EncryptedGroupSecrets, ...]
    encrypted_group_info: bytes

    def encode(self, w: Writer) -> None:
        w.u16(self.cipher_suite)
        w.vector(self.secrets, lambda w, s: s.encode(w))
        w.opaque(self.encrypted_group_info)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        cipher_suite = r.u16()
        secrets = tuple(r.vector(EncryptedGroupSecrets.decode))
        return cls(cipher_suite, secrets, r.opaque())


def create_welcome(
    suite: CipherSuite,
    welcome_secret: bytes,
    group_info: GroupInfo,
    recipients: Iterable[tuple[KeyPackage, GroupSecrets]],
) -> Welcome:
    """Encrypt the signed GroupInfo once, and each joiner's GroupSecrets to its init key."""
    key, nonce = welcome_key_and_nonce(suite, welcome_secret)
    encrypted_group_info = suite.seal(key, nonce, b"", serialize(group_info))
    secrets = []
    for key_package, group_secrets in recipients:
        kem_output, ciphertext = suite.encrypt_with_label(
            key_package.init_key, _WELCOME_LABEL, encrypted_group_info, serialize(group_secrets)
        )
        secrets.append(
            EncryptedGroupSecrets(key_package.ref(suite), HPKECiphertext(kem_output, ciphertext))
        )
    return Welcome(suite.suite_id, tuple(secrets), encrypted_group_info)


def open_group_secrets(
    suite: CipherSuite, welcome: Welcome, key_package_ref: bytes, init_priv: bytes
) -> GroupSecrets:
    """The GroupSecrets addressed to the key package named ``key_package_ref``."""
    for entry in welcome.secrets:
        if entry.new_member == key_package_ref:
            plaintext = suite.decrypt_with_label(
                init_priv,
                _WELCOME_LABEL,
                welcome.encrypted_group_info,
                entry.encrypted_group_secrets.kem_output,
                entry.encrypted_group_secrets.ciphertext,
            )
            try:
                return decode_all(plaintext, GroupSecrets.decode)
            except DecodeError as exc:
                raise InvalidWelcome(f"GroupSecrets do not decode: {exc}") from exc
    raise InvalidWelcome("the Welcome holds no secrets for this KeyPackage")


def open_group_info(suite: CipherSuite, welcome: Welcome, welcome_secret: bytes) -> GroupInfo:
    """Decrypt the GroupInfo; its signature and confirmation tag are still unchecked."""
    key, nonce = welcome_key_and_nonce(suite, welcome_secret)
    plaintext = suite.open(key, nonce, b"", welcome.encrypted_group_info)
    try:
        return decode_all(plaintext, GroupInfo.decode)
    except DecodeError as exc:
        raise InvalidWelcome(f"GroupInfo does not decode: {exc}") from exc
