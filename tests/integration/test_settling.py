"""After its commit a message is settled: its sender acknowledged, then the event published. One
queue of the node settles every room's appends in the order they were stored, whatever path they
came by (WebSocket, HTTP, membership changes). A peer's close is answered only once the sends
read before it are settled."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct

import pytest

from sottovoce.server.gateway import MAX_IN_FLIGHT
from tests.integration.conftest import PersonFactory
from tests.integration.harness import JSON, Person, ServerProcess, b64, unb64

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


# A raw socket, because a WebSocket client library sends its close only once asked, after the
# frames it was given: to have the close read right behind sends that are still committing, it
# must go in the same write.
OP_TEXT = 0x1
OP_CLOSE = 0x8


async def _raw_websocket(
    server: ServerProcess,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked frame (clients must mask) of under 64 KiB."""
    mask = os.urandom(4)
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack("!H", size)
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode]) + length + mask + masked


async def _server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(size)


async def test_sends_pipelined_past_the_in_flight_limit_then_a_close_are_all_acked_and_stored(
    shared_any_server: ServerProcess, people: PersonFactory
) -> None:
    alice = await people(shared_any_server)
    room = await alice.create_room()
    # Past MAX_IN_FLIGHT, so that the close is read while sends still await their commit; within
    # the frame limit's burst.
    sends = MAX_IN_FLIGHT + 18
    frames = [_client_frame(OP_TEXT, json.dumps({"type": "auth", "token": alice.token}).encode())]
    frames += [
        _client_frame(OP_TEXT, json.dumps(send(f"p{n}", room, f"p{n}".encode())).encode())
        for n in range(sends)
    ]
    frames.append(_client_frame(OP_CLOSE, struct.pack("!H", 1000)))
    reader, writer = await _raw_websocket(shared_any_server)
    try:
        writer.write(b"".join(frames))
        await writer.drain()
        acks: list[str] = []
        async with asyncio.timeout(TIMEOUT):
            while True:
                opcode, payload = await _server_frame(reader)
                if opcode == OP_CLOSE:
                    break
                frame = json.loads(payload)
                assert frame["type"] in ("ready", "ack", "event"), frame
                if frame["type"] == "ack":
                    acks.append(frame["id"])
    finally:
        writer.close()
    assert struct.unpack("!H", payload[:2])[0] == 1000
    assert acks == [f"p{n}" for n in range(sends)]
    stored = [unb64(e["body"]) for e in await alice.history(room) if e["kind"] == "message"]
    assert stored == [f"p{n}".encode() for n in range(sends)]
