"""The key directory: device key blobs and one-time key packages, opaque to the server."""

from __future__ import annotations

from sottovoce.core.errors import NotFound
from sottovoce.core.ids import parse_user_id
from sottovoce.core.models import ClaimedPackage
from sottovoce.store.base import Store


class Keys:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def publish_device_keys(self, device_id: str, keys: bytes) -> None:
        await self._store.set_device_keys(device_id, keys)

    async def add_packages(
        self, device_id: str, one_time: list[bytes], last_resort: bytes | None
    ) -> int:
        return await self._store.add_key_packages(device_id, one_time, last_resort)

    async def count(self, device_id: str) -> tuple[int, bool]:
        return await self._store.count_key_packages(device_id)

    async def device_keys(self, user_id: str) -> list[tuple[str, bytes | None]]:
        await self._require_user(user_id)
        return await self._store.get_device_keys(user_id)

    async def claim(self, user_id: str) -> list[ClaimedPackage]:
        await self._require_user(user_id)
        return await self._store.claim_key_packages(user_id)

    async def _require_user(self, user_id: str) -> None:
        parse_user_id(user_id)
        if await self._store.get_user(user_id) is None:
            raise NotFound(f"no user {user_id[:80]!r}")
