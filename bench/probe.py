"""Fixed-rate fan-out steps against one Sottovoce engine, with the server's CPU split by thread.

Where ``make bench`` searches for the highest passing rate, this holds the rates it is given, so a
change to the server can be compared at equal load, on CPU time per message, which a busy machine
distorts far less than latency. The server runs as in ``make bench`` (pinned to CPU 0, the frame
limit lifted, as many users registered as the room has members instead of 100; its log goes
to bench/results/logs)::

    taskset -c 1 .venv/bin/python -m bench.probe --engine sqlite --rates 20000,64000 --size 10
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvloop

from bench.fanout import opened
from bench.run import RESULTS
from bench.scenarios import UNCAPPED_ARGS
from bench.servers import add_sotto_argument, pin_to_generator_cpu
from bench.targets import SottovoceTarget

TICKS = os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """User and system CPU seconds so far of ``pid``'s threads: its main thread apart from the
    others (Python does not name its threads for the kernel)."""
    times: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "main thread" if task.name == str(pid) else "other threads"
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user, system = times.get(name, (0.0, 0.0))
        times[name] = (user + int(fields[11]) / TICKS, system + int(fields[12]) / TICKS)
    return times


async def probe(
    engine: str, rates: list[float], size: int, seconds: float, sotto: list[str]
) -> None:
    target = SottovoceTarget(RESULTS, engine, sotto, list(UNCAPPED_ARGS), pool_size=size)
    await target.start()
    try:
        room = await target.room(f"probe-{size}", size)
        async with opened(room) as fanout:
            for rate in rates:
                before = thread_times(target.server.pid)
                result = await fanout.step_at(rate, seconds)
                after = thread_times(target.server.pid)
                messages = result.delivered_per_s * seconds / (size - 1)
                print(
                    f"offered {rate:>9,.0f}/s delivered {result.delivered_per_s:>9,.0f}/s "
                    f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:8.2f} ms "
                    f"lost {result.losses} errors {result.errors}"
                )
                for name in sorted(after):
                    user = after[name][0] - before.get(name, (0.0, 0.0))[0]
                    system = after[name][1] - before.get(name, (0.0, 0.0))[1]
                    if user + system and messages:
                        print(
                            f"    {name:<16} user {user / messages * 1e6:6.1f} "
                            f"sys {system / messages * 1e6:6.1f} us/message"
                        )
    finally:
        await target.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="sqlite")
    parser.add_argument("--rates", default="20000,64000", help="deliveries per second, in order")
    parser.add_argument("--size", type=int, default=10, help="members of the room")
    parser.add_argument("--seconds", type=float, default=5.0)
    add_sotto_argument(parser)
    args = parser.parse_args()
    pin_to_generator_cpu()
    rates = [float(rate) for rate in args.rates.split(",")]
    uvloop.run(probe(args.engine, rates, args.size, args.seconds, args.sotto))


if __name__ == "__main__":
    main()
