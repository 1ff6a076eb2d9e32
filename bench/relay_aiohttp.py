"""The bare room relay of bench/relay.py on aiohttp's server instead of picows, for the choice
of WebSocket server (bench/server_choice.py): the same rooms, the same forwarding, byte for byte.

Run: ``python -m bench.relay_aiohttp --port 8766``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from aiohttp import WSMsgType, web

ROOMS = web.AppKey("rooms", dict[str, set[web.WebSocketResponse]])


async def member(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=None, max_msg_size=1 << 20)
    await ws.prepare(request)
    room = request.app[ROOMS].setdefault(request.path, set())
    room.add(ws)
    try:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                payload = message.data.encode()
                for other in list(room):
                    if other is not ws:
                        await other.send_frame(payload, WSMsgType.TEXT)
    finally:
        room.discard(ws)
    return ws


async def serve(host: str, port: int) -> None:
    app = web.Application()
    app[ROOMS] = {}
    app.router.add_get("/{room}", member)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"aiohttp relay listening on {host}:{port}", flush=True)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
