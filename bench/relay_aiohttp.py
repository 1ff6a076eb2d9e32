"""The bare room relay of bench/relay.py on aiohttp's server instead of picows, for the choice
of WebSocket server (bench/server_choice.py): the same rooms, the same forwarding, byte for byte.

Run: ``python -m bench.relay_aiohttp --port 8766``.
"""

from __future__ import annotations

from aiohttp import WSMsgType, web

from bench.relay import run, until_signalled

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
    print(f"aiohttp relay listening on {host}:{port}", flush=True)
    await until_signalled()
    await runner.cleanup()


def main() -> None:
    run(serve, 8766, __doc__)


if __name__ == "__main__":
    main()
