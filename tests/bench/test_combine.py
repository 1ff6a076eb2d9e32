"""How `make bench` pairs Sottovoce's figures with the relay's (bench/run.py)."""

from __future__ import annotations

from bench.report import Row
from bench.run import as_durable, combine, relay_scenarios
from bench.scenarios import Measure


def test_an_uncapped_scenario_is_set_beside_the_relays_capped_one() -> None:
    relay = [Measure("fanout-10", "delivered", "msg/s", 180_000.0)]
    ours = [
        Measure("fanout-10", "delivered", "msg/s", 6_000.0),
        Measure("fanout-10-uncapped", "delivered", "msg/s", 90_000.0),
    ]
    assert combine(ours, relay, "sqlite") == [
        Row("fanout-10", "delivered", "msg/s", 6_000.0, 180_000.0, "sqlite"),
        Row("fanout-10-uncapped", "delivered", "msg/s", 90_000.0, 180_000.0, "sqlite"),
    ]


def test_a_figure_only_one_side_has_keeps_its_row() -> None:
    relay = [Measure("idle", "RSS", "KiB", 28.0)]
    ours = [Measure("history", "p50", "ms", 2.0)]
    assert combine(ours, relay, "sqlite") == [
        Row("history", "p50", "ms", 2.0, None, "sqlite"),
        Row("idle", "RSS", "KiB", None, 28.0, "sqlite"),
    ]


def test_the_relay_runs_each_capped_scenario_once() -> None:
    assert relay_scenarios(["fanout-10", "light", "fanout-10-uncapped", "fanout-100-uncapped"]) == [
        "fanout-10",
        "light",
        "fanout-100",
    ]


def test_light_latency_is_also_set_beside_the_durable_relays() -> None:
    light = [
        Measure("light", "delivered", "msg/s", 1_000.0),
        Measure("light", "p50 latency", "ms", 1.2),
        Measure("fanout-10", "p50 latency", "ms", 3.0),
    ]
    durable = as_durable([Measure("light", "p50 latency", "ms", 1.0)])
    assert combine(as_durable(light), durable, "sqlite") == [
        Row("light-durable", "p50 latency", "ms", 1.2, 1.0, "sqlite"),
    ]
