"""In-memory room membership for the hot path, dropped whenever a member event is stored."""

from __future__ import annotations

from collections import OrderedDict

from sottovoce.bus.base import EventStored, Notification
from sottovoce.core.models import EventKind, Member
from sottovoce.store.base import Store


class MembershipCache:
    """Joined and invited members per room, least recently used rooms forgotten first.

    A load that raced with an invalidation is not kept: each room has a generation number that an
    invalidation bumps, and a load stores its result only if the generation did not move.
    """

    def __init__(self, store: Store, max_rooms: int = 10_000) -> None:
        self._store = store
        self._max_rooms = max_rooms
        self._rooms: OrderedDict[str, dict[str, Member]] = OrderedDict()
        self._generation: dict[str, int] = {}

    async def members(self, room_id: str) -> dict[str, Member]:
        cached = self._rooms.get(room_id)
        if cached is not None:
            self._rooms.move_to_end(room_id)
            return cached
        generation = self._generation.get(room_id, 0)
        loaded = {m.user_id: m for m in await self._store.list_members(room_id)}
        if self._generation.get(room_id, 0) == generation:
            self._rooms[room_id] = loaded
            if len(self._rooms) > self._max_rooms:
                evicted, _ = self._rooms.popitem(last=False)
                self._generation.pop(evicted, None)
        return loaded

    async def member(self, room_id: str, user_id: str) -> Member | None:
        return (await self.members(room_id)).get(user_id)

    def invalidate(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
        self._generation[room_id] = self._generation.get(room_id, 0) + 1

    def on_notification(self, note: Notification) -> None:
        if isinstance(note, EventStored) and note.event.kind is EventKind.MEMBER:
            self.invalidate(note.event.room_id)
