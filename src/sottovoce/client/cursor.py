"""Per-room sequence cursors: the rule that live events are yielded once, in order, without gaps.

Sans-I/O: the SDK feeds every event it receives (replayed, live or paged over HTTP) through
``classify`` and only yields what ``advance`` accepted, so the rule is tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum


class Verdict(Enum):
    STALE = "stale"  # at or before the cursor: already yielded, drop it
    NEXT = "next"  # exactly the following seq (or the first seen of a room): yield it
    GAP = "gap"  # events are missing between the cursor and this one: page them first


class RoomCursors:
    """The last sequence number yielded per room."""

    def __init__(self, since: Mapping[str, int] | None = None) -> None:
        self._last: dict[str, int] = dict(since or {})

    def since(self) -> dict[str, int]:
        """The ``since`` map for the WebSocket ``auth`` frame after a reconnect."""
        return dict(self._last)

    def position(self, room_id: str) -> int | None:
        return self._last.get(room_id)

    def classify(self, room_id: str, seq: int) -> Verdict:
        last = self._last.get(room_id)
        # A room first seen mid-stream (a new invitation) starts at whatever arrives first:
        # what happened there before we were invited is not ours to replay.
        if last is None or seq == last + 1:
            return Verdict.NEXT
        return Verdict.STALE if seq <= last else Verdict.GAP

    def advance(self, room_id: str, seq: int) -> None:
        if self.classify(room_id, seq) is not Verdict.NEXT:
            raise ValueError(f"seq {seq} does not follow {self._last.get(room_id)} in {room_id}")
        self._last[room_id] = seq

    def skip_to(self, room_id: str, seq: int) -> None:
        """Accept a gap that cannot be filled (history is not readable), never move backwards."""
        self._last[room_id] = max(seq, self._last.get(room_id, 0))


class MailCursor:
    """Mailbox ids increase per device; after a reconnect the server pushes unacknowledged mail
    again, so anything at or below the last id yielded is a repeat."""

    def __init__(self) -> None:
        self.last = 0

    def accept(self, mail_id: int) -> bool:
        if mail_id <= self.last:
            return False
        self.last = mail_id
        return True
