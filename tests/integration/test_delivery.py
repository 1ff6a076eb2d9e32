"""The WebSocket route: delivery while a room is busy (a connection that resumes as events keep
coming gets each one once and in order, across the replay, the frames queued meanwhile and the
live stream), and the upgrade request answered like any other HTTP request (per-address limit,
JSON errors)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.integration.conftest import PersonFactory
from tests.integration.harness import JSON, ServerProcess, WebSocket, b64, http_session

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


async def test_the_per_ip_limit_refuses_websocket_upgrades_too(
    shared_server: ServerProcess,
) -> None:
    async with http_session() as http:

        async def upgrade() -> tuple[int, str | None]:
            try:
                ws = await http.ws_connect(shared_server.ws_url)
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status, (exc.headers or {}).get("Retry-After")
            await ws.close()
            return 101, None

        # Far over the per-address burst of 60, all at once.
        answers = await asyncio.gather(*(upgrade() for _ in range(150)))
    statuses = {status for status, _ in answers}
    assert statuses == {101, 429}, statuses
    assert all(int(retry) >= 1 for status, retry in answers if status == 429 and retry)
    assert any(retry for status, retry in answers if status == 429)


async def test_a_plain_request_to_the_websocket_route_gets_a_json_error(
    shared_server: ServerProcess,
) -> None:
    async with http_session() as http:
        async with http.get(shared_server.ws_url.replace("ws://", "http://")) as reply:
            assert reply.status == 400
            assert reply.headers["Content-Type"].startswith("application/json")
            assert (await reply.json())["error"]["code"] == "bad_request"
        async with http.post(shared_server.ws_url.replace("ws://", "http://")) as reply:
            error = (await reply.json())["error"]
            assert (reply.status, error["code"]) == (400, "bad_request")
            assert error["message"].startswith("method not allowed"), error
