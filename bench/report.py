"""The one table `make bench` prints and writes to bench/results/latest.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

Figure = float | int | None


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    metric: str
    unit: str
    sottovoce: Figure
    baseline: Figure
    engine: str

    @property
    def ratio(self) -> float | None:
        """Sottovoce / baseline; None when either side has no figure or the baseline is zero."""
        if self.sottovoce is None or self.baseline is None or self.baseline == 0:
            return None
        return round(self.sottovoce / self.baseline, 3)

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio}


def _cell(value: Figure) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def format_table(rows: list[Row], sides: tuple[str, str] = ("sottovoce", "baseline")) -> str:
    """``sides`` names the two columns compared (the ratio is the first over the second)."""
    header = ("engine", "scenario", "metric", "unit", *sides, "ratio")
    lines = [
        (r.engine, r.scenario, r.metric, r.unit, *map(_cell, (r.sottovoce, r.baseline, r.ratio)))
        for r in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=True)]
    numeric = {4, 5, 6}

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


def write_json(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
