"""Trust in contacts' identity keys: trust on first use, key-change warnings, verification and
safety numbers.

Guarantees:

- The first identity key seen for a user is remembered (trust on first use).
- When a known user's identity key changes, the new key replaces the old one, the user stops
  being verified, and an ``IdentityKeyChanged`` warning with both keys is kept until the user
  acknowledges it or verifies the new key. Nothing about a change is ever silent.
- A user can be marked verified only for the key the safety number was computed from.
- ``safety_number`` is the same on both sides and changes when either identity key or user id
  changes. It follows Signal's numeric fingerprint: per side, SHA-512 iterated 5200 times over
  a domain-separated (version, key, user id) input, 30 digits per side, the two halves sorted so
  the order of the parties does not matter.

``observe`` is the sans-I/O rule; ``TrustBook`` applies it over a ``TrustStorage``, which the
keystore implements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol, Self

from cryptography.hazmat.primitives import hashes

from sottovoce.client.e2ee_errors import StaleSafetyNumber, UnknownContact
from sottovoce.mls._codec import Reader, Writer, decode_all, serialize

SAFETY_NUMBER_VERSION = b"Sottovoce safety number v1"
SAFETY_NUMBER_ITERATIONS = 5200
_DIGITS_PER_SIDE_BYTES = 30
_CHUNK = 5


@dataclass(frozen=True, slots=True)
class IdentityKeyChanged:
    """The warning shown when a known contact's identity key changed."""

    user_id: str
    old_key: bytes
    new_key: bytes
    changed_at: int
    was_verified: bool

    def encode(self, w: Writer) -> None:
        w.opaque(self.user_id.encode()).opaque(self.old_key).opaque(self.new_key)
        w.u64(self.changed_at).u8(int(self.was_verified))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(r.opaque().decode(), r.opaque(), r.opaque(), r.u64(), bool(r.u8()))

    def __str__(self) -> str:
        verified = " (it was verified)" if self.was_verified else ""
        return (
            f"the identity key of {self.user_id} changed{verified}: "
            f"{self.old_key.hex()[:16]}… → {self.new_key.hex()[:16]}…; compare safety numbers "
            "before trusting it"
        )


class TrustStatus(StrEnum):
    UNVERIFIED = "unverified"
    VERIFIED = "verified"
    CHANGED = "changed"
    """The key changed and the warning was not acknowledged yet."""


@dataclass(frozen=True, slots=True)
class TrustRecord:
    user_id: str
    identity_key: bytes
    first_seen: int
    verified: bool = False
    warning: IdentityKeyChanged | None = None

    @property
    def status(self) -> TrustStatus:
        if self.warning is not None:
            return TrustStatus.CHANGED
        return TrustStatus.VERIFIED if self.verified else TrustStatus.UNVERIFIED

    def encode(self, w: Writer) -> None:
        w.opaque(self.user_id.encode()).opaque(self.identity_key).u64(self.first_seen)
        w.u8(int(self.verified)).optional(self.warning, lambda w, warning: warning.encode(w))

    @classmethod
    def decode(cls, r: Reader) -> Self:
        return cls(
            r.opaque().decode(),
            r.opaque(),
            r.u64(),
            bool(r.u8()),
            r.optional(IdentityKeyChanged.decode),
        )

    def to_bytes(self) -> bytes:
        return serialize(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        return decode_all(data, cls.decode)


def observe(
    record: TrustRecord | None, user_id: str, identity_key: bytes, now: int
) -> tuple[TrustRecord, IdentityKeyChanged | None]:
    """The record after seeing ``identity_key`` for ``user_id``, and the warning if it changed."""
    if record is None:
        return TrustRecord(user_id, identity_key, first_seen=now), None
    if record.identity_key == identity_key:
        return record, None
    warning = IdentityKeyChanged(user_id, record.identity_key, identity_key, now, record.verified)
    return replace(record, identity_key=identity_key, verified=False, warning=warning), warning


class TrustStorage(Protocol):
    def load_trust(self, user_id: str) -> TrustRecord | None: ...
    def save_trust(self, record: TrustRecord) -> None: ...
    def all_trust(self) -> list[TrustRecord]: ...


def _unix_now() -> int:
    return int(time.time())


class TrustBook:
    """The trust rules over a storage; every change is one ``save_trust``, so it is atomic."""

    def __init__(self, storage: TrustStorage, clock: Callable[[], int] = _unix_now) -> None:
        self._storage = storage
        self._clock = clock

    def observe(self, user_id: str, identity_key: bytes) -> IdentityKeyChanged | None:
        """Remember ``identity_key`` as ``user_id``'s; a warning if it replaced another key."""
        record = self._storage.load_trust(user_id)
        updated, warning = observe(record, user_id, identity_key, self._clock())
        if updated != record:
            self._storage.save_trust(updated)
        return warning

    def record(self, user_id: str) -> TrustRecord | None:
        return self._storage.load_trust(user_id)

    def identity_key(self, user_id: str) -> bytes | None:
        """The key currently trusted for ``user_id``; usable as ``identity.IdentityKeyLookup``."""
        record = self._storage.load_trust(user_id)
        return None if record is None else record.identity_key

    def warnings(self) -> list[IdentityKeyChanged]:
        return [r.warning for r in self._storage.all_trust() if r.warning is not None]

    def acknowledge(self, user_id: str) -> None:
        """The user saw the key-change warning; the contact stays unverified."""
        record = self._require(user_id)
        if record.warning is not None:
            self._storage.save_trust(replace(record, warning=None))

    def mark_verified(self, user_id: str, compared_key: bytes) -> None:
        """Mark ``user_id`` verified after the safety number for ``compared_key`` matched."""
        record = self._require(user_id)
        if record.identity_key != compared_key:
            raise StaleSafetyNumber(
                f"the identity key of {user_id} changed since the safety number was computed"
            )
        self._storage.save_trust(replace(record, verified=True, warning=None))

    def _require(self, user_id: str) -> TrustRecord:
        record = self._storage.load_trust(user_id)
        if record is None:
            raise UnknownContact(f"no identity key is known for {user_id}")
        return record


def _fingerprint_digits(user_id: str, identity_key: bytes) -> str:
    digest = hashes.Hash(hashes.SHA512())
    digest.update(SAFETY_NUMBER_VERSION + identity_key + user_id.encode())
    value = digest.finalize()
    for _ in range(SAFETY_NUMBER_ITERATIONS):
        digest = hashes.Hash(hashes.SHA512())
        digest.update(value + identity_key)
        value = digest.finalize()
    return "".join(
        f"{int.from_bytes(value[i : i + _CHUNK], 'big') % 100_000:05d}"
        for i in range(0, _DIGITS_PER_SIDE_BYTES, _CHUNK)
    )


def safety_number(
    local_user_id: str, local_identity_key: bytes, remote_user_id: str, remote_identity_key: bytes
) -> str:
    """Twelve groups of five digits, identical for both parties, e.g. ``"01234 56789 …"``."""
    halves = sorted(
        (
            _fingerprint_digits(local_user_id, local_identity_key),
            _fingerprint_digits(remote_user_id, remote_identity_key),
        )
    )
    digits = "".join(halves)
    return " ".join(digits[i : i + _CHUNK] for i in range(0, len(digits), _CHUNK))
