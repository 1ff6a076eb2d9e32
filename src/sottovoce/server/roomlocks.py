"""Per-room locks so that this node publishes a room's events in sequence order.

Appends go through ``store.groupcommit.GroupCommit``, which resumes a room's appenders in sequence
order; each takes the room's lock as soon as it resumes, and the lock is first come, first
served, so publishing (which may await the bus) keeps the live stream of every room gap-free and
ordered. Locks exist only while someone holds or awaits
them, so memory follows the number of busy rooms, not of all rooms.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class RoomLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, room_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(room_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[room_id]

    def __len__(self) -> int:
        return len(self._locks)
