"""Resuming from a cursor: the replay, and a cursor past the end of the room."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import PersonFactory, running
from tests.integration.harness import ServerProcess, sqlite_url

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext


async def test_a_cursor_past_the_end_resumes_from_the_real_end_and_misses_nothing_new(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    stored = await alice.send(room, b"before")
    # A cursor far ahead of the room (a client bug, a restored backup): nothing to replay, and
    # what is sent next must still arrive instead of being taken for already seen.
    ws = await bob.connect(since={room: stored["event"]["seq"] + 1000})
    assert [f for f in await ws.assert_quiet() if f["type"] == "event"] == []
    after = await alice.send(room, b"after")
    pushed = await ws.wait_type("event")
    assert pushed["event"] == after["event"]


async def test_a_resume_replays_only_what_follows_its_cursor(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    room = await alice.create_room(bob)
    seen = await alice.send(room, b"seen")
    missed = [await alice.send(room, f"missed {i}".encode()) for i in range(3)]
    ws = await bob.connect(since={room: seen["event"]["seq"]})
    replayed = [(await ws.wait_type("event"))["event"] for _ in missed]
    assert replayed == [m["event"] for m in missed]
    assert [f for f in await ws.assert_quiet() if f["type"] == "event"] == []


async def test_a_resume_over_many_rooms_replays_each_from_its_own_cursor(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(shared_server), await people(shared_server)
    behind, level, ahead, left = [await alice.create_room(bob) for _ in range(4)]
    seen = await alice.send(behind, b"seen")
    missed = [await alice.send(behind, f"missed {i}".encode()) for i in range(2)]
    at_end = await alice.send(level, b"at the end")
    before_ahead = await alice.send(ahead, b"ahead")
    gone = await alice.send(left, b"before bob left")
    (await bob.call("POST", f"/rooms/{left}/leave")).expect(200)
    await alice.send(left, b"after bob left")
    ws = await bob.connect(
        since={
            behind: seen["event"]["seq"],
            level: at_end["event"]["seq"],
            ahead: before_ahead["event"]["seq"] + 50,
            left: gone["event"]["seq"] - 1,
        }
    )
    replayed = [(await ws.wait_type("event"))["event"] for _ in missed]
    assert replayed == [m["event"] for m in missed]
    assert [f for f in await ws.assert_quiet() if f["type"] == "event"] == []
    # Live events still follow in the rooms that had nothing to replay.
    for room in (level, ahead):
        sent = await alice.send(room, b"live")
        assert (await ws.wait_type("event"))["event"] == sent["event"]


async def test_a_resume_longer_than_a_page_replays_every_event_in_order(
    tmp_path: Path, people: PersonFactory
) -> None:
    data = tmp_path / "data"
    # More than one page of the replay (500 events), sent faster than the shipped request limit.
    limits = ["--http-rate-limit", "100000"]
    with running(
        ServerProcess(data, sqlite_url(data), plaintext=True, extra_args=limits)
    ) as server:
        alice, bob = await people(server), await people(server)
        room = await alice.create_room(bob)
        sent = [await alice.send(room, f"{i}".encode()) for i in range(505)]
        last = sent[-1]["event"]["seq"]
        ws = await bob.connect(since={room: 0})
        replayed = [(await ws.wait_type("event"))["event"]["seq"] for _ in range(last)]
        assert replayed == list(range(1, last + 1))
        assert [f for f in await ws.assert_quiet() if f["type"] == "event"] == []
