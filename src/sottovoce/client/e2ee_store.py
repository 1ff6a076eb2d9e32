"""Where ``RoomCrypto`` keeps its secrets across restarts: the profile's encrypted keystore.

Each change is one keystore transaction, so a group's new state and the plaintext of the message
that produced it are kept together or not at all: a message once decrypted (and so acked by the
caller) is never lost to a crash, and a processed commit is never processed twice.
"""

from __future__ import annotations

from sottovoce.client.identity import DeviceKeys, IdentityKeyPair
from sottovoce.client.keystore import Keystore, Table
from sottovoce.mls import Group, GroupConfig, KeyPackageBundle, decode_bundle, encode_bundle
from sottovoce.mls._codec import Reader, Writer


def bundle_name(bundle: KeyPackageBundle) -> str:
    # The public init key is unique to each key package.
    return bundle.key_package.init_key.hex()


class CryptoRecords:
    """The records of one device; with ``store=None`` they live in memory only."""

    def __init__(self, store: Keystore | None = None) -> None:
        self.store = store

    def load_identity(self) -> tuple[str, IdentityKeyPair] | None:
        return None if self.store is None else self.store.load_identity()

    def save_identity(self, user_id: str, identity: IdentityKeyPair) -> None:
        if self.store is not None:
            self.store.save_identity(user_id, identity)

    def load_device(self) -> DeviceKeys | None:
        return None if self.store is None else self.store.load_device_keys()

    def save_device(self, device: DeviceKeys) -> None:
        if self.store is not None:
            self.store.save_device_keys(device)

    def load_bundles(self) -> list[KeyPackageBundle]:
        if self.store is None:
            return []
        return [decode_bundle(value) for _, value in self.store.items(Table.KEY_PACKAGES)]

    def save_bundles(self, bundles: list[KeyPackageBundle]) -> None:
        if self.store is None:
            return
        with self.store.transaction() as tx:
            for bundle in bundles:
                tx.put(Table.KEY_PACKAGES, bundle_name(bundle), encode_bundle(bundle))

    def load_groups(self, config: GroupConfig) -> dict[str, tuple[Group, int]]:
        if self.store is None:
            return {}
        groups: dict[str, tuple[Group, int]] = {}
        for room_id, value in self.store.items(Table.GROUPS):
            r = Reader(value)
            joined_at, state = r.u64(), r.opaque()
            r.done()
            groups[room_id] = (Group.from_bytes(state, config), joined_at)
        return groups

    def load_opened(self) -> dict[bytes, bytes]:
        if self.store is None:
            return {}
        return {bytes.fromhex(k): v for k, v in self.store.items(Table.MESSAGES)}

    def save(
        self,
        room_id: str,
        group: Group,
        joined_at: int,
        opened: tuple[bytes, bytes] | None = None,
        used_bundle: KeyPackageBundle | None = None,
        seq: int | None = None,
    ) -> None:
        """A group's state, with the message that changed it (and the seq it was read at) and
        the key package it consumed."""
        if self.store is None:
            return
        state = Writer().u64(joined_at).opaque(group.to_bytes()).bytes()
        with self.store.transaction() as tx:
            tx.put(Table.GROUPS, room_id, state)
            if opened is not None:
                tx.put(Table.MESSAGES, opened[0].hex(), opened[1])
                if seq is not None:
                    tx.put(Table.PLACES, opened[0].hex(), seq.to_bytes(8, "big"))
            if used_bundle is not None:
                tx.delete(Table.KEY_PACKAGES, bundle_name(used_bundle))

    def forget(self, room_id: str) -> None:
        """Drop a group this device left (its decrypted messages stay)."""
        if self.store is not None:
            with self.store.transaction() as tx:
                tx.delete(Table.GROUPS, room_id)
                tx.delete(Table.CURSORS, room_id)

    def load_cursors(self) -> dict[str, int]:
        if self.store is None:
            return {}
        return {room: int.from_bytes(seq, "big") for room, seq in self.store.items(Table.CURSORS)}

    def save_cursor(self, room_id: str, seq: int) -> None:
        """The seq up to which every event of the room has been processed and kept."""
        if self.store is not None:
            self.store.put(Table.CURSORS, room_id, seq.to_bytes(8, "big"))

    def load_places(self) -> dict[bytes, int]:
        if self.store is None:
            return {}
        return {
            bytes.fromhex(k): int.from_bytes(v, "big") for k, v in self.store.items(Table.PLACES)
        }

    def save_place(self, digest: bytes, seq: int) -> None:
        """The seq at which the message with this body digest was first read."""
        if self.store is not None:
            self.store.put(Table.PLACES, digest.hex(), seq.to_bytes(8, "big"))
