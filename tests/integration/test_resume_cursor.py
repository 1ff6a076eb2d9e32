"""Resuming from a cursor: the replay, and a cursor past the end of the room."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import PersonFactory, running
from tests.integration.harness import ServerProcess, open_ws, recv_close, sqlite_url

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


async def test_members_resuming_all_at_once_each_get_what_they_missed_after_their_cursor(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    """A reconnect storm in small: on PostgreSQL the connects' reads are taken together
    (store/pg_batches.py), and each connection must still get exactly its own replay."""
    owner = await people(shared_any_server)
    members = [await people(shared_any_server) for _ in range(6)]
    room = await owner.create_room(*members)
    seen = [(await owner.send(room, f"seen {i}".encode()))["event"] for i in range(2)]
    missed = [(await owner.send(room, f"missed {i}".encode()))["event"] for i in range(3)]
    revoked = members[-1]
    other = await revoked.login()
    await revoked.call("DELETE", f"/devices/{revoked.device_id}", token=other["access_token"])

    def cursor(n: int) -> int:
        # Two cursors: half the members saw one event, half saw both.
        return int(seen[n % 2]["seq"])

    resuming = [(n, m) for n, m in enumerate(members[:-1]) for _ in range(3)]
    refused = open_ws(revoked.http, shared_any_server.ws_url, revoked.token, {room: cursor(0)})
    sockets = await asyncio.gather(
        *(m.connect(since={room: cursor(n)}) for n, m in resuming), refused, return_exceptions=True
    )

    assert isinstance(sockets[-1], AssertionError), sockets[-1]
    for (n, _), ws in zip(resuming, sockets[:-1], strict=True):
        assert not isinstance(ws, BaseException), ws
        expected = (seen[1:] if n % 2 == 0 else []) + missed
        replayed = [(await ws.wait_type("event"))["event"] for _ in expected]
        assert replayed == expected
    quiet = await asyncio.gather(*(ws.assert_quiet() for ws in sockets[:-1]))
    assert all(f["type"] != "event" for frames in quiet for f in frames)
    async with revoked.http.ws_connect(shared_any_server.ws_url) as ws:
        await ws.send_json({"type": "auth", "token": revoked.token})
        assert await recv_close(ws) == 4003
