"""`make bench`: every scenario against the bare relay and against Sottovoce, in one run.

The servers run pinned to CPU 0 and this generator to CPU 1. The relay is measured once; each
Sottovoce engine (SQLite, PostgreSQL) is then measured and set beside it, row by row. The fan-out
searches that the targets are judged by, the uncapped ones, come last: every engine's server
(restarted with the frame limit lifted) and the relay run side by side, and their steps
alternate, so that the machine's drift over the run weighs on all of them alike. The light
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
    run_uncapped_together,
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
    target: SottovoceTarget, plan: Plan, only: list[str], args: argparse.Namespace
) -> list[Measure]:
    """Every scenario of ``only`` but the uncapped fan-outs, which ``measure_together`` runs; the
    target is left running, restarted with the frame limit lifted when they are to come."""
    await target.start()
    print(
        f"sottovoce/{target.engine}: registered {POOL_SIZE} users once in "
        f"{target.registration_seconds:.1f} s (argon2); every scenario reuses their sessions, "
        "several connections per session",
        flush=True,
    )
    setup = Measure("setup", f"register {POOL_SIZE} users (once)", "s", target.registration_seconds)
    profiles = RESULTS if args.profile else None
    figures = await run_all(target, plan, [n for n in only if n not in UNCAPPED], profiles)
    if any(name in UNCAPPED for name in only):
        await target.restart(UNCAPPED_ARGS)
    return [setup, *figures]


async def measure_together(
    targets: list[SottovoceTarget], plan: Plan, uncapped: list[str], args: argparse.Namespace
) -> tuple[list[Measure], list[list[Measure]]]:
    """The uncapped fan-outs of every engine and the relay's fan-out, steps alternating."""
    relay = RelayTarget(RESULTS)
    await relay.start()
    try:
        profiles = RESULTS if args.profile else None
        return await run_uncapped_together(relay, targets, plan, uncapped, profiles)
    finally:
        await relay.stop()


async def run(args: argparse.Namespace) -> None:
    plan = QUICK if args.quick else FULL
    only = args.only.split(",") if args.only else list(SCENARIOS)
    engines = list(filter(None, args.engines.split(",")))
    # The relay's fan-out that an uncapped one is compared with runs beside it, not before.
    uncapped = [name for name in only if name in UNCAPPED] if engines else []
    beside = {UNCAPPED[name] for name in uncapped}
    baseline, durable = await measure_relays(
        plan, [name for name in relay_scenarios(only) if name not in beside]
    )
    figures: dict[str, list[Measure]] = {}
    running: list[SottovoceTarget] = []
    try:
        for engine in engines:
            target = SottovoceTarget(RESULTS, engine, args.sotto, args.server_arg)
            try:
                figures[engine] = await measure_engine(target, plan, only, args)
                running.append(target)
            except Exception as exc:
                print(f"sottovoce/{engine} could not be measured: {exc!r}", flush=True)
                figures[engine] = [Measure("setup", "server start", "", None)]
                await target.stop()
        if uncapped and running:
            relay_figures, together = await measure_together(running, plan, uncapped, args)
            baseline += relay_figures
            for target, mine in zip(running, together, strict=True):
                figures[target.engine] += mine
    finally:
        for target in running:
            await target.stop()
    rows: list[Row] = []
    for engine, mine in figures.items():
        rows += combine(mine, baseline, engine)
        if engine == DURABLE_ENGINE and durable:
            rows += combine(as_durable(mine), durable, engine)
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
