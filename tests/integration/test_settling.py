"""After its commit a message is settled: its sender acknowledged, then the event published. One
queue of the node settles every room's appends in the order they were stored, whatever path they
came by (WebSocket, HTTP, membership changes)."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import PersonFactory
from tests.integration.harness import JSON, Person, ServerProcess, b64

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

TIMEOUT = 60


def send(request: str, room: str, body: bytes) -> JSON:
    return {"type": "send", "id": request, "room_id": room, "client_id": request, "body": b64(body)}


async def test_a_rooms_live_stream_is_gap_free_across_websocket_http_and_membership_appends(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, watcher = [await people(shared_any_server) for _ in range(3)]
    joiners = [await people(shared_any_server) for _ in range(4)]
    room = await alice.create_room(bob, watcher)
    watching = await watcher.connect()
    a_ws = await alice.connect()

    async def over_websocket() -> None:
        for n in range(60):
            await a_ws.send(send(f"w{n}", room, f"w{n}".encode()))

    async def over_http() -> None:
        for n in range(20):
            await bob.send(room, f"h{n}".encode())

    async def membership(person: Person) -> None:
        (await alice.call("POST", f"/rooms/{room}/invite", {"user_id": person.user_id})).expect(200)
        (await person.call("POST", f"/rooms/{room}/join")).expect(200)

    await asyncio.gather(over_websocket(), over_http(), *(membership(p) for p in joiners))
    stored = await alice.history(room)
    last = stored[-1]["seq"]
    seen: list[JSON] = []
    async with asyncio.timeout(TIMEOUT):
        while not seen or seen[-1]["seq"] < last:
            frame = await watching.recv()
            if frame["type"] == "event":
                seen.append(frame["event"])
    # Every event stored after the watcher connected, each once, in sequence order.
    seqs = [event["seq"] for event in seen]
    assert seqs == list(range(seqs[0], last + 1)), seqs
    assert len(seqs) >= 60 + 20 + 2 * len(joiners)
    assert [e["event_id"] for e in seen] == [e["event_id"] for e in stored[-len(seen) :]]
