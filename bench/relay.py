"""The ceiling Sottovoce is measured against: a bare WebSocket room relay on picows + uvloop.

No auth, no storage, no parsing. A client joins the room named by the URL path
(``ws://127.0.0.1:P/<room>``); every text frame it sends is forwarded, byte for byte, to the
other connections in that room. WebSocket pings are answered by picows itself.

Run: ``python -m bench.relay --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop
from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)


class RoomMember(WSListener):
    def __init__(self, room: set[WSTransport]) -> None:
        self.room = room

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.room.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.room.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            for other in self.room:
                if other is not transport:
                    other.send(WSMsgType.TEXT, payload)
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()


async def serve(host: str, port: int) -> None:
    rooms: dict[bytes, set[WSTransport]] = {}

    def route(request: WSUpgradeRequest) -> RoomMember:
        return RoomMember(rooms.setdefault(request.path, set()))

    server = await ws_create_server(route, host, port, websocket_handshake_timeout=10)
    print(f"relay listening on {host}:{port}", flush=True)
    await until_signalled()
    server.close()


async def until_signalled() -> None:
    """Return on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(serve: Callable[[str, int], Coroutine[Any, Any, None]], port: int, doc: str) -> None:
    """A relay's command line: ``--host`` and ``--port``, then ``serve`` on uvloop."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


def main() -> None:
    run(serve, 8765, __doc__)


if __name__ == "__main__":
    main()
