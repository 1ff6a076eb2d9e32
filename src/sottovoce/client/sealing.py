"""Sealing of the keystore's records: the sans-I/O crypto under ``keystore.py``.

Guarantees:

- Two keys are derived (HKDF-SHA256, salted with the store's random id) from the 32-byte master
  key: one seals values with AES-256-GCM, the other turns ``(table, key)`` into an opaque row id
  (HMAC-SHA256), so even the names of records (user ids, group ids) are not readable at rest.
- Each sealed value carries a fresh random 96-bit nonce, and its associated data binds the
  store, the table and the row id: a value moved to another row, table or store fails to open.
- What cannot be detected: replacing a row with an older value of the same row (rollback).
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sottovoce.client.e2ee_errors import KeystoreCorrupted
from sottovoce.mls._codec import Reader, Writer
from sottovoce.mls.errors import DecodeError

MASTER_KEY_LEN = 32
_NONCE_LEN = 12
_SEAL_INFO = b"Sottovoce keystore v1 seal"
_NAME_INFO = b"Sottovoce keystore v1 names"
_KEY_CHECK_TABLE = "_header"
_KEY_CHECK_KEY = "key check"


def _derive(master_key: bytes, store_id: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=store_id, info=info).derive(master_key)


class StoreCipher:
    """Seals and opens the values of one store under its master key."""

    __slots__ = ("_aead", "_name_key", "_store_id")

    def __init__(self, master_key: bytes, store_id: bytes) -> None:
        if len(master_key) != MASTER_KEY_LEN:
            raise ValueError(f"the master key is {MASTER_KEY_LEN} bytes")
        self._aead = AESGCM(_derive(master_key, store_id, _SEAL_INFO))
        self._name_key = _derive(master_key, store_id, _NAME_INFO)
        self._store_id = store_id

    def row_id(self, table: str, key: str) -> bytes:
        mac = hmac.HMAC(self._name_key, hashes.SHA256())
        mac.update(Writer().opaque(table.encode()).opaque(key.encode()).bytes())
        return mac.finalize()

    def _aad(self, table: str, row_id: bytes) -> bytes:
        return Writer().opaque(self._store_id).opaque(table.encode()).opaque(row_id).bytes()

    def seal(self, table: str, key: str, value: bytes) -> tuple[bytes, bytes]:
        """``(row_id, sealed)``; the key travels inside so that a table can be listed."""
        row_id = self.row_id(table, key)
        nonce = secrets.token_bytes(_NONCE_LEN)
        plaintext = Writer().opaque(key.encode()).opaque(value).bytes()
        return row_id, nonce + self._aead.encrypt(nonce, plaintext, self._aad(table, row_id))

    def open(self, table: str, row_id: bytes, sealed: bytes) -> tuple[str, bytes]:
        """``(key, value)`` of a sealed row; ``KeystoreCorrupted`` if it was altered or moved."""
        nonce, ciphertext = sealed[:_NONCE_LEN], sealed[_NONCE_LEN:]
        try:
            plaintext = self._aead.decrypt(nonce, ciphertext, self._aad(table, row_id))
            reader = Reader(plaintext)
            key, value = reader.opaque().decode(), reader.opaque()
            reader.done()
        except (InvalidTag, ValueError, DecodeError):
            raise KeystoreCorrupted(
                f"a record of table {table!r} failed authentication: the store file was altered "
                "or damaged"
            ) from None
        return key, value

    def key_check(self) -> bytes:
        """A sealed empty value whose opening proves the master key is the store's."""
        return self.seal(_KEY_CHECK_TABLE, _KEY_CHECK_KEY, b"")[1]

    def accepts(self, key_check: bytes) -> bool:
        row_id = self.row_id(_KEY_CHECK_TABLE, _KEY_CHECK_KEY)
        try:
            self.open(_KEY_CHECK_TABLE, row_id, key_check)
        except KeystoreCorrupted:
            return False
        return True
