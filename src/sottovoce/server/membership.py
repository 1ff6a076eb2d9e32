"""In-memory room membership for the hot path, dropped whenever a member event is stored."""

from __future__ import annotations

from collections import OrderedDict

from sottovoce.bus.base import EventStored, Notification
from sottovoce.core.models import EventKind, Member
from sottovoce.store.base import Store


class MembershipCache:
    """Joined and invited members per room, least recently used rooms forgotten first.

    A load that raced with an invalidation is not kept: while loads of a room are in flight, an
    invalidation bumps the room's generation, and a load keeps its result only if the generation
    did not move. Generations exist only during loads, so memory stays bounded.
    """

    def __init__(self, store: Store, max_rooms: int = 10_000) -> None:
        self._store = store
        self._max_rooms = max_rooms
        self._rooms: OrderedDict[str, dict[str, Member]] = OrderedDict()
        # room -> [loads in flight, generation]
        self._loading: dict[str, list[int]] = {}

    def cached(self, room_id: str) -> dict[str, Member] | None:
        """The room's members if they are in memory, else None (``members`` loads them)."""
        cached = self._rooms.get(room_id)
        if cached is not None:
            self._rooms.move_to_end(room_id)
        return cached

    async def members(self, room_id: str) -> dict[str, Member]:
        cached = self.cached(room_id)
        if cached is not None:
            return cached
        state = self._loading.setdefault(room_id, [0, 0])
        state[0] += 1
        generation = state[1]
        try:
            loaded = {m.user_id: m for m in await self._store.list_members(room_id)}
        finally:
            state[0] -= 1
            if state[0] == 0:
                del self._loading[room_id]
        if state[1] == generation:
            self._rooms[room_id] = loaded
            if len(self._rooms) > self._max_rooms:
                self._rooms.popitem(last=False)
        return loaded

    async def member(self, room_id: str, user_id: str) -> Member | None:
        return (await self.members(room_id)).get(user_id)

    def invalidate(self, room_id: str) -> None:
        self._rooms.pop(room_id, None)
        state = self._loading.get(room_id)
        if state is not None:
            state[1] += 1

    def on_notification(self, note: Notification) -> None:
        if isinstance(note, EventStored) and note.event.kind is EventKind.MEMBER:
            self.invalidate(note.event.room_id)
