"""Why the generator uses picows: generator CPU per delivery, picows client against aiohttp's.

Both clients receive the same relayed frames from the bare relay (pinned to CPU 0) and find the
stamp in each; the figure is deliveries per second of generator CPU time, so a faster client
leaves more headroom before the generator, not the server, becomes the bottleneck.

Run: ``taskset -c 1 python -m bench.client_choice``.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import uvloop

from bench.clock import wait_until
from bench.servers import ServerProcess, free_port, pin_to_generator_cpu, python_module
from bench.wire import Stamp, find_stamp, send_frame
from bench.wsconn import connect, ignore

RECEIVERS = 20
MESSAGES = 5_000
BATCH = 100

Receive = Callable[[str, Callable[[bytes], None]], Awaitable[Callable[[], Awaitable[None]]]]


async def picows_receiver(
    url: str, on_text: Callable[[bytes], None]
) -> Callable[[], Awaitable[None]]:
    conn = await connect(url, on_text)
    return conn.close


async def aiohttp_receiver(
    url: str, on_text: Callable[[bytes], None]
) -> Callable[[], Awaitable[None]]:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(url)

    async def pump() -> None:
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                on_text(message.data.encode())

    task = asyncio.create_task(pump())

    async def close() -> None:
        await ws.close()
        await task
        await http.close()

    return close


async def deliveries_per_cpu_second(url: str, receive: Receive) -> float:
    received = 0

    def on_text(payload: bytes) -> None:
        nonlocal received
        if find_stamp(payload) is not None:
            received += 1

    closers = [await receive(url, on_text) for _ in range(RECEIVERS)]
    sender = await connect(url, ignore)
    cpu = time.process_time()
    for start in range(0, MESSAGES, BATCH):
        for n in range(start, start + BATCH):
            sender.send(send_frame("!bench:localhost", Stamp(0, 0, n, time.monotonic_ns())))
        await asyncio.sleep(0)
    await wait_until(lambda: received >= MESSAGES * RECEIVERS, 60)
    used = time.process_time() - cpu
    await sender.close()
    for close in closers:
        await close()
    return received / used


async def compare() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="sotto-bench-") as logs:
        relay = ServerProcess(python_module("bench.relay", "--port", str(port)), Path(logs) / "log")
        await relay.start(port)
        try:
            for name, receive in (("picows", picows_receiver), ("aiohttp", aiohttp_receiver)):
                rate = await deliveries_per_cpu_second(f"ws://127.0.0.1:{port}/{name}", receive)
                print(f"{name:8} {rate:>10,.0f} deliveries per generator CPU second", flush=True)
        finally:
            await relay.stop()


def main() -> None:
    pin_to_generator_cpu()
    uvloop.run(compare())


if __name__ == "__main__":
    main()
