"""Reconnects by a user in many rooms: what a resume costs when it has nothing to replay, the
commonest resume of all (a phone waking up, a laptop changing networks), or with ``--news`` one
event to replay in every room.

The user resumes with a cursor at the end of every room (one short of it with ``--news``), and
sends a ping right after its auth frame; the gateway reads it only once the replay is over, so
the time to the pong is the time the resume took. The server runs as in ``make bench`` (pinned
to CPU 0)::

    taskset -c 1 .venv/bin/python -m bench.resume --engine sqlite --rooms 100
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import aiohttp
import uvloop

from bench.run import RESULTS
from bench.servers import add_sotto_argument, pin_to_generator_cpu
from bench.targets import SottovoceTarget


async def resume(engine: str, rooms: int, news: bool, reconnects: int, sotto: list[str]) -> None:
    target = SottovoceTarget(RESULTS, engine, sotto, [], pool_size=2)
    await target.start()
    try:
        alice, bob = target.pool
        for i in range(rooms):
            await target.api.create_room(alice, f"resume-{i}", [bob])
        listed = await target.api.call("GET", "/rooms", bob)
        since = {room["room_id"]: room["last_seq"] - news for room in listed["rooms"]}
        auth = json.dumps({"type": "auth", "token": bob.access_token, "since": since})
        ping = json.dumps({"type": "ping", "id": "resumed"})
        url = f"ws://127.0.0.1:{target.port}/api/v1/ws"
        took: list[float] = []
        async with aiohttp.ClientSession() as http:
            cpu_before = target.server.cpu_seconds()
            for _ in range(reconnects):
                async with http.ws_connect(url) as ws:
                    started = time.perf_counter()
                    await ws.send_str(auth)
                    await ws.send_str(ping)
                    replayed = 0
                    while (frame := json.loads((await ws.receive(timeout=30)).data))["type"] in (
                        "ready",
                        "presence",
                        "event",
                    ):
                        replayed += frame["type"] == "event"
                    if frame["type"] != "pong" or replayed != rooms * news:
                        raise RuntimeError(f"{replayed} events replayed, then {frame}")
                    took.append(time.perf_counter() - started)
            cpu = target.server.cpu_seconds() - cpu_before
        print(
            f"{engine}: {reconnects} resumes with {'news' if news else 'nothing new'} in "
            f"{rooms} rooms: "
            f"median {statistics.median(took) * 1e3:.2f} ms, "
            f"server CPU {cpu / reconnects * 1e3:.2f} ms per resume"
        )
    finally:
        await target.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="sqlite")
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--news", action="store_true", help="one event to replay in every room")
    parser.add_argument("--reconnects", type=int, default=200)
    add_sotto_argument(parser)
    args = parser.parse_args()
    pin_to_generator_cpu()
    uvloop.run(resume(args.engine, args.rooms, args.news, args.reconnects, args.sotto))


if __name__ == "__main__":
    main()
