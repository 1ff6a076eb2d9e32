"""`make bench`: every scenario against the bare relay and against Sottovoce, in one run.

The servers run pinned to CPU 0 and this generator to CPU 1. The relay is measured once; each
Sottovoce engine (SQLite, PostgreSQL) is then measured and set beside it, row by row. The light
scenario also runs against the relay that commits every frame to SQLite before forwarding it
(bench/relay_durable.py), and Sottovoce-on-SQLite's latency there is set beside that too, as
``light-durable``: what durability alone costs on this machine.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import uvloop

from bench.report import Figure, Row, format_table, write_json
from bench.scenarios import (
    FULL,
    QUICK,
    SCENARIOS,
    UNCAPPED,
    UNCAPPED_ARGS,
    Measure,
    Plan,
    run_all,
)
from bench.servers import console_script, pin_to_generator_cpu
from bench.targets import POOL_SIZE, RelayTarget, SottovoceTarget

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = ("sqlite", "postgresql")
DURABLE = "light-durable"
# The light-load figures compared with the durable relay's, on the engine it stores like.
DURABLE_METRICS = ("p50 latency", "p99 latency", "server CPU per delivery")
DURABLE_ENGINE = "sqlite"


def combine(sottovoce: list[Measure], baseline: list[Measure], engine: str) -> list[Row]:
    """One row per figure of either side; a side that failed or has no such figure shows None.

    An uncapped scenario is set beside the relay's figure of its capped one."""
    base = {(m.scenario, m.metric): m for m in baseline}
    rows: list[Row] = []
    compared: set[tuple[str, str]] = set()
    for m in sottovoce:
        key = (UNCAPPED.get(m.scenario, m.scenario), m.metric)
        compared.add(key)
        rows.append(Row(m.scenario, m.metric, m.unit, m.value, _value(base.get(key)), engine))
    rows += [
        Row(m.scenario, m.metric, m.unit, None, m.value, engine)
        for key, m in base.items()
        if key not in compared
    ]
    return rows


def _value(measure: Measure | None) -> Figure:
    return None if measure is None else measure.value


def as_durable(figures: list[Measure]) -> list[Measure]:
    """The light scenario's figures that are compared with the durable relay's, renamed so."""
    return [
        replace(m, scenario=DURABLE)
        for m in figures
        if m.scenario == "light" and m.metric in DURABLE_METRICS
    ]


async def measure_relays(plan: Plan, only: list[str]) -> tuple[list[Measure], list[Measure]]:
    """The bare relay's figures in every scenario, and the durable relay's in the light one."""
    baseline = await measure_relay(RelayTarget(RESULTS), plan, relay_scenarios(only))
    if "light" not in only:
        return baseline, []
    durable = await measure_relay(RelayTarget(RESULTS, "bench.relay_durable"), plan, ["light"])
    return baseline, as_durable(durable)


async def measure_relay(relay: RelayTarget, plan: Plan, scenarios: list[str]) -> list[Measure]:
    await relay.start()
    try:
        return await run_all(relay, plan, scenarios)
    finally:
        await relay.stop()


def relay_scenarios(only: list[str]) -> list[str]:
    """What the relay runs: it has no frame limit, so an uncapped scenario is its capped one."""
    return list(dict.fromkeys(UNCAPPED.get(name, name) for name in only))


async def measure_engine(
    engine: str, plan: Plan, only: list[str], args: argparse.Namespace
) -> list[Measure]:
    target = SottovoceTarget(RESULTS, engine, args.sotto, args.server_arg)
    try:
        await target.start()
        print(
            f"sottovoce/{engine}: registered {POOL_SIZE} users once in "
            f"{target.registration_seconds:.1f} s (argon2); every scenario reuses their sessions, "
            "several connections per session",
            flush=True,
        )
        setup = Measure(
            "setup", f"register {POOL_SIZE} users (once)", "s", target.registration_seconds
        )
        profiles = RESULTS if args.profile else None
        figures = await run_all(target, plan, [n for n in only if n not in UNCAPPED], profiles)
        uncapped = [name for name in only if name in UNCAPPED]
        if uncapped:
            await target.restart(UNCAPPED_ARGS)
            figures += await run_all(target, plan, uncapped, profiles)
        return [setup, *figures]
    finally:
        await target.stop()


async def run(args: argparse.Namespace) -> None:
    plan = QUICK if args.quick else FULL
    only = args.only.split(",") if args.only else list(SCENARIOS)
    baseline, durable = await measure_relays(plan, only)
    rows: list[Row] = []
    for engine in filter(None, args.engines.split(",")):
        try:
            figures = await measure_engine(engine, plan, only, args)
        except Exception as exc:
            print(f"sottovoce/{engine} could not be measured: {exc!r}", flush=True)
            figures = [Measure("setup", "server start", "", None)]
        rows += combine(figures, baseline, engine)
        if engine == DURABLE_ENGINE and durable:
            rows += combine(as_durable(figures), durable, engine)
    if not rows:
        rows = combine([], baseline, "none")
    print()
    print(format_table(rows))
    write_json(rows, args.out)
    print(f"\nwritten to {args.out}; figures from a shared 2-core machine are preliminary")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a shortened run, under 5 minutes")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--only", default="", help=f"comma-separated subset of {list(SCENARIOS)}")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra argument for `sottovoce serve` (repeatable)",
    )
    parser.add_argument(
        "--sotto",
        type=lambda value: [value],
        default=console_script("sotto"),
        help="the sotto command to measure (default: the one installed beside this Python)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy during its run"
    )
    args = parser.parse_args()
    pin_to_generator_cpu()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
