"""The fan-out's frame encoder against aiohttp's own WebSocket reader and writer."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import WSMsgType
from aiohttp._websocket.reader import WebSocketDataQueue
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import WebSocketReader, WebSocketWriter

from sottovoce.server.wsframe import control_ping, control_pong, text_frame

# Each side of both length boundaries of RFC 6455 section 5.2 (7-bit, 16-bit, 64-bit lengths).
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 200_000]


def payload(size: int) -> bytes:
    return bytes(ord("a") + i % 26 for i in range(size))


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return False


@pytest.mark.parametrize("size", SIZES)
async def test_a_frame_is_what_aiohttp_writes_for_the_same_text(size: int) -> None:
    transport = Transport()
    writer = WebSocketWriter(BaseProtocol(asyncio.get_running_loop()), transport)
    await writer.send_frame(payload(size), WSMsgType.TEXT)
    assert text_frame(payload(size)) == bytes(transport.written)


async def test_aiohttp_reads_back_each_message_from_frames_written_back_to_back() -> None:
    loop = asyncio.get_running_loop()
    queue = WebSocketDataQueue(BaseProtocol(loop), 2**24, loop=loop)
    reader = WebSocketReader(queue, max_msg_size=0, compress=False, decode_text=True)
    stream = b"".join(text_frame(payload(size)) for size in SIZES)
    # Cut anywhere, as TCP may deliver it: the reader must find the same frames.
    for start in range(0, len(stream), 1000):
        reader.feed_data(stream[start : start + 1000])
    for size in SIZES:
        message = await queue.read()
        assert message.type is WSMsgType.TEXT
        assert message.data == payload(size).decode()


async def test_aiohttp_reads_the_control_frames_as_ping_and_pong() -> None:
    loop = asyncio.get_running_loop()
    queue = WebSocketDataQueue(BaseProtocol(loop), 2**24, loop=loop)
    reader = WebSocketReader(queue, max_msg_size=0, compress=False, decode_text=True)
    reader.feed_data(control_ping() + control_pong(b"") + control_pong(b"x" * 125))
    read = [await queue.read() for _ in range(3)]
    assert [(m.type, m.data) for m in read] == [
        (WSMsgType.PING, b""),
        (WSMsgType.PONG, b""),
        (WSMsgType.PONG, b"x" * 125),
    ]


def test_a_pong_cannot_carry_more_than_a_control_frame_may() -> None:
    with pytest.raises(ValueError, match="125"):
        control_pong(b"x" * 126)
