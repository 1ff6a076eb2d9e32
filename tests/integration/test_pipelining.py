"""A connection's sends are pipelined: read while earlier ones commit, acknowledged each by its
request id, stored and delivered in the order they were sent. The frame limit is configurable."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.integration.conftest import PersonFactory, running
from tests.integration.harness import JSON, ServerProcess, b64, sqlite_url, unb64

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

SENDS = 100


def send(request: str, room: str, client_id: str, body: bytes) -> JSON:
    return {
        "type": "send",
        "id": request,
        "room_id": room,
        "client_id": client_id,
        "body": b64(body),
    }


async def test_sends_written_back_to_back_are_each_answered_and_stored_in_order(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(shared_any_server) for _ in range(3)]
    room = await alice.create_room(bob)
    elsewhere = await carol.create_room()
    a_ws, b_ws = await alice.connect(), await bob.connect()
    # Everything is written before anything is read, within the frame limit's burst.
    for n in range(SENDS):
        await a_ws.send(send(f"r{n}", room, f"c{n}", f"m{n}".encode()))
    await a_ws.send(send("again", room, "c7", b"m7"))
    await a_ws.send(send("outsider", elsewhere, "c-x", b"x"))

    answers: dict[str, JSON] = {}
    async with asyncio.timeout(60):
        while len(answers) < SENDS + 2:
            frame = await a_ws.recv()
            if frame["type"] in ("ack", "error"):
                assert frame["id"] not in answers, frame
                answers[frame["id"]] = frame
    acks = [answers[f"r{n}"] for n in range(SENDS)]
    assert all(ack["type"] == "ack" and ack["duplicate"] is False for ack in acks)
    first = acks[0]["seq"]
    assert [ack["seq"] for ack in acks] == list(range(first, first + SENDS))
    assert answers["again"]["duplicate"] is True and answers["again"]["seq"] == acks[7]["seq"]
    assert answers["outsider"]["type"] == "error" and answers["outsider"]["code"] == "not_member"

    delivered: list[JSON] = []
    async with asyncio.timeout(60):
        while len(delivered) < SENDS:
            frame = await b_ws.recv()
            if frame["type"] == "event" and frame["event"]["kind"] == "message":
                delivered.append(frame["event"])
    assert [unb64(e["body"]) for e in delivered] == [f"m{n}".encode() for n in range(SENDS)]
    assert [e["seq"] for e in delivered] == [ack["seq"] for ack in acks]


async def test_a_raised_frame_limit_admits_a_burst_the_default_refuses(
    tmp_path: Path, people: PersonFactory
) -> None:
    data = tmp_path / "data"
    server = ServerProcess(
        data, sqlite_url(data), plaintext=True, extra_args=["--ws-rate-limit", "1000"]
    )
    with running(server):
        person = await people(server)
        ws = await person.connect()
        # Over the default burst of 128 and far under this server's 2,000.
        for i in range(600):
            await ws.send({"type": "ping", "id": str(i)})
        async with asyncio.timeout(60):
            answers = [await ws.recv() for _ in range(600)]
    assert [a["type"] for a in answers] == ["pong"] * 600
