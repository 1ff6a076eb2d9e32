"""Where the keystore's master key comes from: a passphrase, the OS keyring, or a key file.

Guarantees:

- ``PassphraseKey``: argon2id (RFC 9106) over the passphrase with a random 16-byte salt; salt and
  cost parameters live in the store's header, so costs can differ per store and a tampered header
  cannot make unlocking cost more than the caps below.
- ``KeyringKey``: a random 32-byte key kept by the OS keyring, used only when the optional
  ``keyring`` package is installed and has a usable backend.
- ``KeyFileKey`` (``--no-passphrase``): a random 32-byte key in a file created 0600 and refused
  once it is readable by others. It protects nothing against whoever can read the profile; its
  ``warning`` says so and the caller must print it.
"""

from __future__ import annotations

import base64
import importlib
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

from argon2.low_level import Type, hash_secret_raw

from sottovoce.client.e2ee_errors import KeySourceUnavailable
from sottovoce.client.sealing import MASTER_KEY_LEN
from sottovoce.mls._codec import Reader, Writer
from sottovoce.mls.errors import DecodeError

_SALT_LEN = 16
_MAX_TIME_COST = 20
_MAX_MEMORY_KIB = 4 * 1024 * 1024
_MAX_PARALLELISM = 64


class KeySource(Protocol):
    """How a store's master key is made and found again."""

    @property
    def kind(self) -> str:
        """Recorded in the store's header, so a store is never opened with the wrong source."""
        ...

    def create(self, store_id: bytes) -> dict[str, bytes]:
        """Make the key of a new store; returns header entries ``unlock`` will need."""
        ...

    def unlock(self, store_id: bytes, header: Mapping[str, bytes]) -> bytes:
        """The store's 32-byte master key."""
        ...


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """RFC 9106's second recommended option by default: t=3, 64 MiB, 4 lanes."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    def to_bytes(self) -> bytes:
        return Writer().u32(self.time_cost).u32(self.memory_kib).u32(self.parallelism).bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        try:
            r = Reader(data)
            params = cls(r.u32(), r.u32(), r.u32())
            r.done()
        except DecodeError:
            raise KeySourceUnavailable("the store header's argon2 parameters are damaged") from None
        if not (
            1 <= params.time_cost <= _MAX_TIME_COST
            and 8 * params.parallelism <= params.memory_kib <= _MAX_MEMORY_KIB
            and 1 <= params.parallelism <= _MAX_PARALLELISM
        ):
            raise KeySourceUnavailable("the store header's argon2 parameters are out of range")
        return params


class PassphraseKey:
    kind = "argon2id"

    def __init__(self, passphrase: str, params: Argon2Params | None = None) -> None:
        if not passphrase:
            raise KeySourceUnavailable("the passphrase is empty")
        self._passphrase = passphrase.encode()
        self._params = params or Argon2Params()

    def __repr__(self) -> str:
        return "PassphraseKey(<hidden>)"

    def create(self, store_id: bytes) -> dict[str, bytes]:
        return {"argon2_salt": secrets.token_bytes(_SALT_LEN), "argon2": self._params.to_bytes()}

    def unlock(self, store_id: bytes, header: Mapping[str, bytes]) -> bytes:
        salt, encoded = header.get("argon2_salt"), header.get("argon2")
        if salt is None or encoded is None:
            raise KeySourceUnavailable("the store header has no argon2 salt or parameters")
        params = Argon2Params.from_bytes(encoded)
        return hash_secret_raw(
            self._passphrase,
            salt,
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=MASTER_KEY_LEN,
            type=Type.ID,
        )


class KeyringBackend(Protocol):
    """The part of the ``keyring`` package's API this module uses."""

    def get_password(self, service_name: str, username: str) -> str | None: ...
    def set_password(self, service_name: str, username: str, password: str) -> None: ...


def system_keyring() -> KeyringBackend | None:
    """The OS keyring if ``keyring`` is installed and has a real backend, else ``None``."""
    try:
        module = importlib.import_module("keyring")
    except ImportError:
        return None
    backend = module.get_keyring()
    # keyring falls back to a backend that raises on every call, with priority 0.
    if getattr(backend, "priority", 0) <= 0:
        return None
    found: KeyringBackend = backend
    return found


class KeyringKey:
    kind = "keyring"
    SERVICE = "sottovoce"

    def __init__(self, account: str, backend: KeyringBackend | None = None) -> None:
        self._account = account
        self._backend = backend

    def _keyring(self) -> KeyringBackend:
        backend = self._backend or system_keyring()
        if backend is None:
            raise KeySourceUnavailable(
                "no usable OS keyring (install the 'keyring' package and a backend for your "
                "desktop), so use a passphrase instead"
            )
        return backend

    def _entry(self, store_id: bytes) -> str:
        return f"{self._account}/{store_id.hex()}"

    def create(self, store_id: bytes) -> dict[str, bytes]:
        key = base64.b64encode(secrets.token_bytes(MASTER_KEY_LEN)).decode()
        self._keyring().set_password(self.SERVICE, self._entry(store_id), key)
        return {}

    def unlock(self, store_id: bytes, header: Mapping[str, bytes]) -> bytes:
        stored = self._keyring().get_password(self.SERVICE, self._entry(store_id))
        if stored is None:
            raise KeySourceUnavailable("the OS keyring has no key for this store")
        try:
            key = base64.b64decode(stored, validate=True)
        except ValueError:
            key = b""
        if len(key) != MASTER_KEY_LEN:
            raise KeySourceUnavailable("the OS keyring's entry for this store is not a store key")
        return key


class KeyFileKey:
    kind = "keyfile"

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def warning(self) -> str:
        return (
            f"WARNING: no passphrase. The key of your local store is kept in {self.path}; "
            "anyone who can read that file can read your messages and act as your device."
        )

    def create(self, store_id: bytes) -> dict[str, bytes]:
        if self.path.exists():
            # Another store of this profile, or a create that crashed, made it: keep it, since
            # replacing it would lock that store. Stores derive their own keys from it.
            self.unlock(store_id, {})
            return {}
        # Written under a temporary name and renamed, so a crash never leaves half a key.
        partial = self.path.with_name(self.path.name + ".partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(MASTER_KEY_LEN))
            out.flush()
            os.fsync(out.fileno())
        partial.replace(self.path)
        return {}

    def unlock(self, store_id: bytes, header: Mapping[str, bytes]) -> bytes:
        try:
            mode = self.path.stat().st_mode
            key = self.path.read_bytes()
        except OSError as exc:
            raise KeySourceUnavailable(
                f"cannot read the key file {self.path}: {exc.strerror}"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeySourceUnavailable(
                f"the key file {self.path} is accessible to other users; run chmod 600 on it"
            )
        if len(key) != MASTER_KEY_LEN:
            raise KeySourceUnavailable(f"{self.path} is not a store key file")
        return key
