"""The table `make bench` prints and the JSON other tools read."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import Row, format_table, write_json


def test_ratio_is_sottovoce_over_baseline_and_absent_without_both() -> None:
    assert Row("fanout-10", "delivered", "msg/s", 90_000, 180_000, "sqlite").ratio == 0.5
    assert Row("history", "p50", "ms", 3.0, None, "sqlite").ratio is None
    assert Row("storm", "losses", "msgs", 0, 0, "sqlite").ratio is None


def test_json_is_a_list_of_rows_with_the_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "results" / "latest.json"
    write_json([Row("light", "p99 latency", "ms", 4.0, 2.0, "postgresql")], out)
    rows = json.loads(out.read_text())
    assert rows == [
        {
            "scenario": "light",
            "metric": "p99 latency",
            "unit": "ms",
            "sottovoce": 4.0,
            "baseline": 2.0,
            "ratio": 2.0,
            "engine": "postgresql",
        }
    ]


def test_table_has_one_line_per_row_and_marks_missing_figures() -> None:
    table = format_table(
        [
            Row("fanout-100", "delivered", "msg/s", 45_000, 90_000, "sqlite"),
            Row("history", "p50", "ms", 2.5, None, "sqlite"),
        ]
    )
    lines = table.splitlines()
    assert len(lines) == 4
    assert "45,000" in lines[2] and "0.5" in lines[2]
    assert lines[3].rstrip().endswith("—")


def test_the_compared_columns_can_be_named() -> None:
    table = format_table(
        [Row("fanout-10", "delivered", "msg/s", 90.0, 100.0, "relay")], sides=("aiohttp", "picows")
    )
    header, _, line = table.splitlines()
    assert header.split()[4:] == ["aiohttp", "picows", "ratio"]
    assert line.split()[-1] == "0.9"
