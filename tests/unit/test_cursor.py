"""The SDK's ordering rule: every room's events once, in order, without gaps (client/cursor.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.cursor import MailCursor, RoomCursors, Verdict

ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:localhost"


def test_the_event_after_the_cursor_is_next() -> None:
    assert RoomCursors({ROOM: 4}).classify(ROOM, 5) is Verdict.NEXT


@pytest.mark.parametrize("seq", [1, 3, 4])
def test_events_at_or_before_the_cursor_are_stale(seq: int) -> None:
    assert RoomCursors({ROOM: 4}).classify(ROOM, seq) is Verdict.STALE


def test_an_event_beyond_the_next_one_is_a_gap() -> None:
    assert RoomCursors({ROOM: 4}).classify(ROOM, 7) is Verdict.GAP


def test_a_room_first_seen_mid_stream_starts_at_its_first_event() -> None:
    cursors = RoomCursors()
    assert cursors.classify(ROOM, 12) is Verdict.NEXT
    cursors.advance(ROOM, 12)
    assert cursors.since() == {ROOM: 12}


def test_advancing_over_a_gap_is_refused() -> None:
    cursors = RoomCursors({ROOM: 1})
    with pytest.raises(ValueError, match="does not follow"):
        cursors.advance(ROOM, 3)
    assert cursors.position(ROOM) == 1


def test_since_is_a_copy_that_the_caller_cannot_use_to_move_the_cursor() -> None:
    cursors = RoomCursors({ROOM: 2})
    cursors.since()[ROOM] = 99
    assert cursors.position(ROOM) == 2


def test_skipping_an_unreadable_gap_never_moves_backwards() -> None:
    cursors = RoomCursors({ROOM: 9})
    cursors.skip_to(ROOM, 5)
    assert cursors.position(ROOM) == 9
    cursors.skip_to(ROOM, 11)
    assert cursors.classify(ROOM, 12) is Verdict.NEXT


def deliver(cursors: RoomCursors, arrivals: list[int], history: range) -> list[int]:
    """What the SDK does with arrivals: drop stale ones, page a gap from ``history`` first."""
    yielded: list[int] = []
    for seq in arrivals:
        verdict = cursors.classify(ROOM, seq)
        if verdict is Verdict.GAP:
            start = cursors.position(ROOM) or 0
            for missing in range(start + 1, seq):
                assert missing in history
                cursors.advance(ROOM, missing)
                yielded.append(missing)
            verdict = cursors.classify(ROOM, seq)
        if verdict is Verdict.NEXT:
            cursors.advance(ROOM, seq)
            yielded.append(seq)
    return yielded


@given(
    start=st.integers(min_value=0, max_value=20),
    arrivals=st.lists(st.integers(min_value=1, max_value=60), max_size=80),
)
def test_any_arrival_order_with_repeats_yields_each_seq_once_in_order_without_gaps(
    start: int, arrivals: list[int]
) -> None:
    yielded = deliver(RoomCursors({ROOM: start}), arrivals, range(1, 61))
    top = max([start, *arrivals])
    assert yielded == list(range(start + 1, top + 1))


def test_mail_repeated_after_a_reconnect_is_dropped() -> None:
    mail = MailCursor()
    assert [mail.accept(i) for i in (1, 2, 1, 2, 3)] == [True, True, False, False, True]
