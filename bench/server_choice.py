"""Choosing the WebSocket server by measurement: the same bare room relay on picows
(bench/relay.py) and on aiohttp (bench/relay_aiohttp.py), each pinned to CPU 0 and searched by
the fan-out scenario of ``make bench`` (rooms of 10 and of 100, 10 senders, the offered rate
doubled until p99 passes 100 ms), one after the other in one run.

Run: ``taskset -c 1 python -m bench.server_choice`` (``--quick`` for 1 s steps).
"""

from __future__ import annotations

import argparse

import uvloop

from bench.report import format_table
from bench.run import RESULTS, combine
from bench.scenarios import FULL, QUICK, Measure, Plan, run_all
from bench.servers import pin_to_generator_cpu
from bench.targets import RelayTarget

SCENARIOS = ["fanout-10", "fanout-100"]


async def measure(module: str, plan: Plan) -> list[Measure]:
    relay = RelayTarget(RESULTS, module)
    await relay.start()
    try:
        return await run_all(relay, plan, SCENARIOS)
    finally:
        await relay.stop()


async def choose(plan: Plan) -> None:
    picows = await measure("bench.relay", plan)
    aiohttp = await measure("bench.relay_aiohttp", plan)
    print(format_table(combine(aiohttp, picows, "relay"), sides=("aiohttp", "picows")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    pin_to_generator_cpu()
    uvloop.run(choose(QUICK if args.quick else FULL))


if __name__ == "__main__":
    main()
