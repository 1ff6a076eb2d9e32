"""Delivery while a room is busy: a connection that resumes as events keep coming gets each one
once and in order, across the replay, the frames queued meanwhile and the live stream."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import PersonFactory
from tests.integration.harness import JSON, ServerProcess, WebSocket, b64

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

# More than one replay page (500 events), with bodies large enough that writing the replay waits
# for the socket to drain: live events are published while it is under way.
HISTORY_SENDERS = 6
# Carol's sends: a few at a time, paced under the frame limit (64 a second).
WAVE = 3
PACE_S = 0.05


async def send_wave(ws: WebSocket, room: str, tag: str, count: int, size: int = 16) -> list[int]:
    """``count`` sends written back to back; the seqs of their acknowledgements."""
    for n in range(count):
        body = f"{tag}-{n}-".encode().ljust(size, b".")
        frame = {"type": "send", "id": f"{tag}{n}", "room_id": room, "client_id": f"{tag}{n}"}
        await ws.send({**frame, "body": b64(body)})
    seqs: list[int] = []
    async with asyncio.timeout(60):
        while len(seqs) < count:
            answer = await ws.recv()
            assert answer["type"] != "error", answer
            if answer["type"] == "ack":
                seqs.append(answer["seq"])
    return seqs


async def test_a_member_resuming_while_the_room_is_busy_gets_every_event_once_in_order(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob, carol = [await people(shared_any_server) for _ in range(3)]
    room = await alice.create_room(bob, carol)
    # Each connection has its own frame limit (bursts of 128).
    senders = [await alice.connect() for _ in range(HISTORY_SENDERS)]
    await asyncio.gather(
        *(send_wave(ws, room, f"h{i}-", 100, 8 * 1024) for i, ws in enumerate(senders))
    )
    c_ws = await carol.connect()

    b_ws = await bob.connect(since={room: 0})
    events: list[JSON] = []
    carol_seen = asyncio.Event()

    async def receive() -> None:
        while True:
            frame = await b_ws.recv()
            if frame["type"] == "event":
                events.append(frame["event"])
                if frame["event"]["sender"] == carol.user_id:
                    carol_seen.set()

    receiving = asyncio.create_task(receive())
    try:
        # Carol keeps sending until Bob has had one of hers, and a little after: her events
        # reach him during his replay, queued behind it, and live.
        last = 0
        waves = after = 0
        while after < 2:
            waves += 1
            after += carol_seen.is_set()
            last = max(await send_wave(c_ws, room, f"c{waves}-", WAVE))
            await asyncio.sleep(PACE_S)
        async with asyncio.timeout(60):
            while not events or events[-1]["seq"] < last:
                await asyncio.sleep(0.05)
    finally:
        receiving.cancel()
    stored = await alice.history(room)
    assert [e["event_id"] for e in events] == [e["event_id"] for e in stored]
