"""Scenario (b): many idle authenticated connections with heartbeats; server RSS per connection.

One process may hold at most 20,000 open files here, so the connections are spread over worker
processes (``python -m bench.idle``, configured on stdin so that tokens never show in ``ps``).
Each worker reports one JSON line when its connections are open and one when its hold is over.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass

import uvloop

from bench.servers import ServerProcess
from bench.wire import ping_frame
from bench.wsconn import CONNECT_ERRORS, Connection, connect, ignore

PER_WORKER = 5_000
CONNECT_PARALLEL = 100


@dataclass(frozen=True, slots=True)
class IdleResult:
    connected: int
    failed: int
    dropped: int
    rss_per_connection_kib: float


async def hold_idle(
    server: ServerProcess, url: str, tokens: list[str | None], hold_s: float, heartbeat_s: float
) -> IdleResult:
    rss_before = server.rss_bytes()
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.idle",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(math.ceil(len(tokens) / PER_WORKER))
    ]
    for index, worker in enumerate(workers):
        share = tokens[index * PER_WORKER : (index + 1) * PER_WORKER]
        config = {"url": url, "tokens": share, "hold_s": hold_s, "heartbeat_s": heartbeat_s}
        assert worker.stdin is not None
        worker.stdin.write(json.dumps(config).encode() + b"\n")
        await worker.stdin.drain()
        worker.stdin.close()
    opened = [await _report(w, limit_s=300) for w in workers]
    # Measured halfway through the hold, once heartbeats have gone both ways.
    await asyncio.sleep(hold_s / 2)
    rss_held = server.rss_bytes()
    ended = [await _report(w, limit_s=hold_s + 120) for w in workers]
    for worker in workers:
        await worker.wait()
    connected = sum(r["connected"] for r in opened)
    return IdleResult(
        connected=connected,
        failed=sum(r["failed"] for r in opened),
        dropped=sum(r["dropped"] for r in ended),
        rss_per_connection_kib=(rss_held - rss_before) / 1024 / max(connected, 1),
    )


async def _report(worker: asyncio.subprocess.Process, limit_s: float) -> dict[str, int]:
    assert worker.stdout is not None
    line = await asyncio.wait_for(worker.stdout.readline(), limit_s)
    if not line:
        raise RuntimeError(f"idle worker exited early with {await worker.wait()}")
    answer: dict[str, int] = json.loads(line)
    return answer


async def _worker(url: str, tokens: list[str | None], hold_s: float, heartbeat_s: float) -> None:
    gate = asyncio.Semaphore(CONNECT_PARALLEL)

    async def one(token: str | None) -> Connection | None:
        async with gate:
            try:
                return await connect(url, ignore, token)
            except CONNECT_ERRORS:
                return None

    conns = [c for c in await asyncio.gather(*(one(t) for t in tokens)) if c is not None]
    print(json.dumps({"connected": len(conns), "failed": len(tokens) - len(conns)}), flush=True)
    authenticated = bool(tokens) and tokens[0] is not None
    started = time.monotonic()
    beats = 0
    # Heartbeats are spread evenly over each period rather than sent as one burst.
    while time.monotonic() - started < hold_s:
        await asyncio.sleep(heartbeat_s / 10)
        slice_index = beats % 10
        for conn in conns[slice_index::10]:
            if not conn.closed.done():
                if authenticated:
                    conn.send(ping_frame(f"hb{beats}"))
                else:
                    conn.ping()
        beats += 1
    dropped = sum(1 for c in conns if c.closed.done())
    print(json.dumps({"dropped": dropped}), flush=True)
    for conn in conns:
        conn.drop()


def main() -> None:
    config = json.loads(sys.stdin.readline())
    uvloop.run(_worker(config["url"], config["tokens"], config["hold_s"], config["heartbeat_s"]))


if __name__ == "__main__":
    main()
