"""Planning a resume's replay: which rooms to read together, and from where, page after page.

Rooms are read in id order, several per read (``Store.events_after_each``), as many as a page
holds by their ends; each read returns at most a page, ordered by room and then ``seq``. A room is
finished by a short page, not by reaching its end: an end read before the connection joined the
hub may miss what committed before it joined, which only the replay sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sottovoce.core.models import Event


class ReplayPlan:
    def __init__(self, cursors: Mapping[str, int], ends: Mapping[str, int], page: int) -> None:
        """``cursors``: each room's cursor, no further than its end; ``ends``: each room's
        ``last_seq`` as last read."""
        self._page = page
        self._ends = ends
        self._after = {room: after for room, after in cursors.items() if ends[room] > after}

    def __bool__(self) -> bool:
        """Whether some room may hold more to send."""
        return bool(self._after)

    def next_read(self) -> dict[str, int]:
        """The rooms to read next, with their cursors: the first in id order, and those after it
        while their events fit in a page."""
        rooms: dict[str, int] = {}
        expected = 0
        for room in sorted(self._after):
            after = self._after[room]
            # At least one: what an end read too early missed.
            expected += max(self._ends[room] - after, 1)
            if rooms and expected > self._page:
                break
            rooms[room] = after
        return rooms

    def read(self, rooms: Mapping[str, int], page: Sequence[Event]) -> None:
        """Take in what the read of ``rooms`` returned."""
        if len(page) < self._page:
            done = list(rooms)
        else:
            # A full page: the rooms before its last event's are complete, that one may not be,
            # and those after it were not reached.
            last = page[-1]
            done = [room for room in rooms if room < last.room_id]
            self._after[last.room_id] = last.seq
        for room in done:
            del self._after[room]
