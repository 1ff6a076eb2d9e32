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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"relay listening on {host}:{port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
