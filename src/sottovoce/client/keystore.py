"""The client's local state: one SQLite file, every value sealed at rest (``sealing.py``) under a
master key from a ``KeySource`` (``keysources.py``).

Guarantees:

- Sealed: every record's value and name. In clear: the header (format, kind of key source, the
  store's random id, argon2 salt and costs, a key check), table names, and how many records of
  which size each table holds.
- ``transaction()`` commits all of its writes or none of them, also when the process dies half
  way; a committed transaction survives a crash or power loss (WAL, ``synchronous=FULL``).
- Replaced and deleted records are overwritten in the file (``secure_delete``), and SQLite
  removes the WAL when the last connection closes, so secrets of past MLS epochs do not linger
  in the profile. Best effort: a copy-on-write filesystem or an SSD may still keep old blocks.
- Thread-safe: one connection behind a lock. The SDK calls it with ``asyncio.to_thread``.
- Not detected: an attacker who can write the file may roll a record back to an older value.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from sottovoce.client.e2ee_errors import (
    KeySourceUnavailable,
    KeystoreCorrupted,
    KeystoreError,
    KeystoreExists,
    KeystoreNotFound,
    WrongStoreKey,
)
from sottovoce.client.identity import DeviceKeys, IdentityKeyPair
from sottovoce.client.keysources import KeySource
from sottovoce.client.sealing import StoreCipher
from sottovoce.client.trust import TrustRecord
from sottovoce.mls._codec import Reader, Writer, decode_all, serialize

FORMAT_VERSION = b"1"
_STORE_ID_LEN = 16
_BUSY_TIMEOUT_MS = 5000
_SELF = "self"
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS header (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS records (tbl TEXT NOT NULL, id BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY (tbl, id)) WITHOUT ROWID",
)


class Table(StrEnum):
    """The kinds of records a client keeps."""

    IDENTITY = "identity"
    DEVICE = "device"
    GROUPS = "groups"
    """MLS group states, by group id."""
    KEY_PACKAGES = "key_packages"
    """Private halves of published key packages, by key package reference."""
    TRUST = "trust"
    CURSORS = "cursors"
    """Per room, the seq up to which every event has been processed, by room id."""
    PLACES = "places"
    """The seq at which each message was first read, by body digest: the same body handed out
    at another seq is a replay."""
    MESSAGES = "messages"
    """Plaintexts of room messages this device has decrypted or sent, by body digest: MLS
    decrypts each message once, within its epoch."""


class Transaction:
    """Reads and writes inside one SQLite transaction; only valid inside ``transaction()``."""

    __slots__ = ("_cipher", "_conn")

    def __init__(self, conn: sqlite3.Connection, cipher: StoreCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def get(self, table: Table, key: str) -> bytes | None:
        row_id = self._cipher.row_id(table, key)
        row = self._conn.execute(
            "SELECT value FROM records WHERE tbl = ? AND id = ?", (table.value, row_id)
        ).fetchone()
        if row is None:
            return None
        return self._cipher.open(table, row_id, row[0])[1]

    def put(self, table: Table, key: str, value: bytes) -> None:
        row_id, sealed = self._cipher.seal(table, key, value)
        self._conn.execute(
            "INSERT INTO records (tbl, id, value) VALUES (?, ?, ?) "
            "ON CONFLICT (tbl, id) DO UPDATE SET value = excluded.value",
            (table.value, row_id, sealed),
        )

    def delete(self, table: Table, key: str) -> bool:
        """Whether there was such a record."""
        cursor = self._conn.execute(
            "DELETE FROM records WHERE tbl = ? AND id = ?",
            (table.value, self._cipher.row_id(table, key)),
        )
        return cursor.rowcount > 0

    def items(self, table: Table) -> list[tuple[str, bytes]]:
        """Every ``(key, value)`` of ``table``, sorted by key."""
        rows = self._conn.execute(
            "SELECT id, value FROM records WHERE tbl = ?", (table.value,)
        ).fetchall()
        return sorted(self._cipher.open(table, row_id, sealed) for row_id, sealed in rows)


def _connect(path: Path, *, must_exist: bool) -> sqlite3.Connection:
    if must_exist:
        if not path.is_file():
            raise KeystoreNotFound(f"no local store at {path}")
        target, uri = path.resolve().as_uri() + "?mode=rw", True
    else:
        # The file is made 0600 before SQLite opens it; SQLite gives its WAL the same mode.
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        target, uri = str(path), False
    conn = sqlite3.connect(target, uri=uri, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
    except sqlite3.DatabaseError:
        conn.close()
        raise KeystoreCorrupted(f"{path} is not a Sottovoce store") from None
    return conn


def _read_header(conn: sqlite3.Connection) -> dict[str, bytes]:
    try:
        rows = conn.execute("SELECT name, value FROM header").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {name: bytes(value) for name, value in rows}


def stored_key_kind(path: Path) -> str | None:
    """The ``KeySource.kind`` protecting the store at ``path``; ``None`` if there is no store."""
    if not path.is_file():
        return None
    conn = _connect(path, must_exist=True)
    try:
        kind = _read_header(conn).get("key_source")
    finally:
        conn.close()
    return None if kind is None else kind.decode(errors="replace")


class Keystore:
    """An unlocked store. Make one with ``create`` or ``open``; ``close`` it when done."""

    def __init__(self, conn: sqlite3.Connection, cipher: StoreCipher) -> None:
        self._conn = conn
        self._cipher = cipher
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: Path, source: KeySource) -> Self:
        """A new, empty store at ``path`` protected by ``source``."""
        conn = _connect(path, must_exist=False)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            if _read_header(conn):
                raise KeystoreExists(f"a local store already exists at {path}")
            header, cipher = _new_header(source)
            conn.executemany("INSERT INTO header (name, value) VALUES (?, ?)", header.items())
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
            raise
        return cls(conn, cipher)

    @classmethod
    def open(cls, path: Path, source: KeySource) -> Self:
        """The existing store at ``path``; ``WrongStoreKey`` if ``source`` does not unlock it."""
        conn = _connect(path, must_exist=True)
        try:
            header = _read_header(conn)
            if not header:
                raise KeystoreNotFound(f"{path} holds no initialized store; create it again")
            cipher = _unlock(header, source)
        except BaseException:
            conn.close()
            raise
        return cls(conn, cipher)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All writes made through the yielded ``Transaction`` commit together, or none do."""
        with self._lock:
            if self._conn.in_transaction:
                raise KeystoreError("keystore transactions do not nest")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn, self._cipher)
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def change_key(self, source: KeySource) -> None:
        """Protect the store with ``source`` from now on (a new passphrase, or another kind of
        key). Every record is sealed again under fresh keys in one transaction, so a crash
        leaves the store under either the old key or the new one."""
        with self._lock:
            header, cipher = _new_header(source)
            with self.transaction():
                rows = self._conn.execute("SELECT tbl, id, value FROM records").fetchall()
                records = [(t, *self._cipher.open(t, row_id, v)) for t, row_id, v in rows]
                self._conn.execute("DELETE FROM records")
                self._conn.execute("DELETE FROM header")
                self._conn.executemany(
                    "INSERT INTO records (tbl, id, value) VALUES (?, ?, ?)",
                    [(t, *cipher.seal(t, key, value)) for t, key, value in records],
                )
                self._conn.executemany(
                    "INSERT INTO header (name, value) VALUES (?, ?)", header.items()
                )
            self._cipher = cipher

    def get(self, table: Table, key: str) -> bytes | None:
        with self.transaction() as tx:
            return tx.get(table, key)

    def put(self, table: Table, key: str, value: bytes) -> None:
        with self.transaction() as tx:
            tx.put(table, key, value)

    def delete(self, table: Table, key: str) -> bool:
        with self.transaction() as tx:
            return tx.delete(table, key)

    def items(self, table: Table) -> list[tuple[str, bytes]]:
        with self.transaction() as tx:
            return tx.items(table)

    # -- typed records --------------------------------------------------------------------

    def save_identity(self, user_id: str, identity: IdentityKeyPair) -> None:
        value = Writer().opaque(user_id.encode()).opaque(identity.private).bytes()
        self.put(Table.IDENTITY, _SELF, value)

    def load_identity(self) -> tuple[str, IdentityKeyPair] | None:
        """This user's id and identity key, once created or received by linking."""
        value = self.get(Table.IDENTITY, _SELF)
        if value is None:
            return None
        r = Reader(value)
        user_id, private = r.opaque().decode(), r.opaque()
        r.done()
        return user_id, IdentityKeyPair.from_private(private)

    def save_device_keys(self, keys: DeviceKeys) -> None:
        self.put(Table.DEVICE, _SELF, serialize(keys))

    def load_device_keys(self) -> DeviceKeys | None:
        value = self.get(Table.DEVICE, _SELF)
        return None if value is None else decode_all(value, DeviceKeys.decode)

    # -- trust.TrustStorage ---------------------------------------------------------------

    def load_trust(self, user_id: str) -> TrustRecord | None:
        value = self.get(Table.TRUST, user_id)
        return None if value is None else TrustRecord.from_bytes(value)

    def save_trust(self, record: TrustRecord) -> None:
        self.put(Table.TRUST, record.user_id, record.to_bytes())

    def all_trust(self) -> list[TrustRecord]:
        return [TrustRecord.from_bytes(value) for _, value in self.items(Table.TRUST)]


def _new_header(source: KeySource) -> tuple[dict[str, bytes], StoreCipher]:
    """The header of a store newly protected by ``source``, and the cipher of its records."""
    store_id = secrets.token_bytes(_STORE_ID_LEN)
    header = {
        "format": FORMAT_VERSION,
        "key_source": source.kind.encode(),
        "store_id": store_id,
        **source.create(store_id),
    }
    cipher = StoreCipher(source.unlock(store_id, header), store_id)
    header["key_check"] = cipher.key_check()
    return header, cipher


def _unlock(header: dict[str, bytes], source: KeySource) -> StoreCipher:
    if header.get("format") != FORMAT_VERSION:
        raise KeystoreError("this store was written by another version of Sottovoce")
    kind = header.get("key_source", b"").decode(errors="replace")
    if kind != source.kind:
        raise KeySourceUnavailable(
            f"this store is protected by a {kind} key, not a {source.kind} key"
        )
    store_id, key_check = header.get("store_id"), header.get("key_check")
    if store_id is None or key_check is None:
        raise KeystoreCorrupted("the store header is incomplete")
    cipher = StoreCipher(source.unlock(store_id, header), store_id)
    if not cipher.accepts(key_check):
        raise WrongStoreKey("the passphrase or key does not unlock this store")
    return cipher
