"""Light-load latency of several builds of the server, measured at once, steps alternating.

At light load the latency of one build drifts by a few tenths of a millisecond from one minute
to the next on this machine, more than most changes move it, so runs one after another cannot
tell builds apart. Here every build's server runs at the same time (each pinned to CPU 0, on its
own database), each with a room of 10 connected, and short steps at the same rate alternate
between them, in reverse order every other round: the drift falls on all of them alike. Two
copies of the same build agree to ~0.02 ms in median p50 over 16 rounds (docs/performance.md)::

    taskset -c 1 .venv/bin/python -m bench.ab --rounds 16 \\
        before="env PYTHONPATH=/tmp/before/src .venv/bin/python -m sottovoce" \\
        after="env PYTHONPATH=/tmp/after/src .venv/bin/python -m sottovoce"
"""

from __future__ import annotations

import argparse
import statistics
from contextlib import AsyncExitStack

import uvloop

from bench.fanout import FanoutRoom, opened
from bench.run import RESULTS
from bench.servers import pin_to_generator_cpu
from bench.targets import SottovoceTarget

ROOM_SIZE = 10


async def compare(
    builds: dict[str, list[str]], engine: str, rate: float, rounds: int, seconds: float
) -> None:
    p50s: dict[str, list[float]] = {name: [] for name in builds}
    p99s: dict[str, list[float]] = {name: [] for name in builds}
    async with AsyncExitStack() as stack:
        rooms: dict[str, FanoutRoom] = {}
        for name, sotto in builds.items():
            results = RESULTS / "ab" / name
            (results / "logs").mkdir(parents=True, exist_ok=True)
            target = SottovoceTarget(results, engine, sotto, [], pool_size=ROOM_SIZE)
            stack.push_async_callback(target.stop)
            await target.start()
            room = await target.room("ab", ROOM_SIZE)
            rooms[name] = await stack.enter_async_context(opened(room))
        names = list(builds)
        for turn in range(rounds):
            for name in names if turn % 2 == 0 else names[::-1]:
                result = await rooms[name].step_at(rate, seconds)
                p50s[name].append(result.p50_ms)
                p99s[name].append(result.p99_ms)
            print("  ".join(f"{name} p50 {p50s[name][-1]:.3f} ms" for name in names), flush=True)
    for name in names:
        print(
            f"{name}: median p50 {statistics.median(p50s[name]):.3f} ms, "
            f"median p99 {statistics.median(p99s[name]):.3f} ms over {rounds} steps"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", help="NAME=COMMAND, the sotto command of a build")
    parser.add_argument("--engine", default="sqlite")
    parser.add_argument("--rate", type=float, default=1_000, help="deliveries per second")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one step")
    args = parser.parse_args()
    builds = dict(build.split("=", 1) for build in args.builds)
    pin_to_generator_cpu()
    uvloop.run(
        compare(
            {name: command.split() for name, command in builds.items()},
            args.engine,
            args.rate,
            args.rounds,
            args.seconds,
        )
    )


if __name__ == "__main__":
    main()
