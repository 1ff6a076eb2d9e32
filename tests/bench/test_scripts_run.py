"""The MLS and E2EE benchmark scripts run to the end at small sizes (figures are not checked:
they belong to the benchmark, not the suite); the E2EE one drives a real server process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_mls_benchmark_prints_its_table() -> None:
    out = run("mls.py", "--sizes", "2", "10", "--commits", "2", "--messages", "20")
    assert "commit ms" in out
    assert "steady" in out


def test_the_e2ee_benchmark_measures_every_figure() -> None:
    out = run("e2ee.py", "--members", "3", "--messages", "5")
    assert "3-member room" in out
    assert "removing one member" in out
    assert "per 200-byte message" in out


def run_module(*args: str, timeout: float) -> str:
    """``python -m`` with ``args``, from the repository's root; its output."""
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_probe_splits_a_real_servers_cpu_per_message_by_thread() -> None:
    out = run_module(
        *("bench.probe", "--rates", "400", "--seconds", "1", "--size", "3"), timeout=120
    )
    assert "delivered" in out
    assert "lost 0 errors 0" in out
    assert "main thread" in out


def test_the_ab_comparison_runs_two_builds_at_once_and_summarizes_each() -> None:
    sotto = f"{sys.executable} -m sottovoce"
    out = run_module(
        *("bench.ab", "--rounds", "2", "--seconds", "0.5", "--rate", "300"),
        f"first={sotto}",
        f"second={sotto}",
        timeout=180,
    )
    assert "first: median p50" in out
    assert "second: median p50" in out
