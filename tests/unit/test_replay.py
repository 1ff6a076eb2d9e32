"""The replay plan of a resume: which rooms are read together, from where, and when each is done."""

from __future__ import annotations

from sottovoce.core.models import Event, EventKind
from sottovoce.core.replay import ReplayPlan


def events(room_id: str, first: int, last: int) -> list[Event]:
    return [
        Event(room_id, seq, f"${seq}", EventKind.MESSAGE, "@a:x", "A", f"c{seq}", b"", 0)
        for seq in range(first, last + 1)
    ]


def test_rooms_without_news_are_never_read() -> None:
    plan = ReplayPlan({"!a:x": 5, "!b:x": 0}, {"!a:x": 5, "!b:x": 0}, page=10)
    assert not plan


def test_rooms_are_read_in_id_order_as_many_together_as_a_page_holds() -> None:
    ends = {"!c:x": 4, "!a:x": 6, "!b:x": 3, "!d:x": 9}
    plan = ReplayPlan({"!c:x": 0, "!a:x": 2, "!b:x": 0, "!d:x": 8}, ends, page=8)

    first = plan.next_read()
    assert first == {"!a:x": 2, "!b:x": 0}  # 4 + 3 events; !c:x's 4 more would overflow
    plan.read(first, events("!a:x", 3, 6) + events("!b:x", 1, 3))
    second = plan.next_read()
    assert second == {"!c:x": 0, "!d:x": 8}
    plan.read(second, events("!c:x", 1, 4) + events("!d:x", 9, 9))
    assert not plan


def test_a_room_longer_than_a_page_is_read_page_after_page() -> None:
    timeline = {"!a:x": events("!a:x", 1, 25), "!b:x": events("!b:x", 1, 1)}
    plan = ReplayPlan({"!a:x": 0, "!b:x": 0}, {"!a:x": 25, "!b:x": 1}, page=10)

    reads, sent = [], []
    while plan:
        rooms = plan.next_read()
        reads.append(rooms)
        past = [e for room in sorted(rooms) for e in timeline[room] if e.seq > rooms[room]]
        sent += past[:10]
        plan.read(rooms, past[:10])
    assert reads == [{"!a:x": 0}, {"!a:x": 10}, {"!a:x": 20, "!b:x": 0}]
    assert sent == timeline["!a:x"] + timeline["!b:x"]


def test_a_page_filled_by_events_past_the_ends_resumes_from_its_last_event() -> None:
    # The ends were read before the connection joined the hub: !b:x has grown since.
    plan = ReplayPlan({"!a:x": 0, "!b:x": 0, "!c:x": 0}, {"!a:x": 2, "!b:x": 2, "!c:x": 2}, page=6)

    rooms = plan.next_read()
    assert rooms == {"!a:x": 0, "!b:x": 0, "!c:x": 0}
    plan.read(rooms, events("!a:x", 1, 2) + events("!b:x", 1, 4))
    assert plan.next_read() == {"!b:x": 4, "!c:x": 0}


def test_a_full_page_that_ends_a_room_costs_one_more_empty_read() -> None:
    plan = ReplayPlan({"!a:x": 0}, {"!a:x": 5}, page=5)
    plan.read({"!a:x": 0}, events("!a:x", 1, 5))
    assert plan.next_read() == {"!a:x": 5}
    plan.read({"!a:x": 5}, [])
    assert not plan
