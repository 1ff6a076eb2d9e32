"""Sampling the server with py-spy while scenarios run, and reading the collapsed stacks back."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

OWN_CODE = "sottovoce/"
ENTRY_POINTS = "sottovoce/cli/"


@asynccontextmanager
async def sampled(pid: int, output: Path) -> AsyncIterator[None]:
    """Record the process's stacks (raw collapsed format) for as long as the block runs."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    recorder = await asyncio.create_subprocess_exec(
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        # Only the thread holding the GIL: the server is CPU-bound Python, and this leaves out
        # time spent waiting in epoll or in idle database worker threads.
        "--gil",
        "--output",
        str(output),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(recorder.wait(), 30)
        except TimeoutError:
            recorder.kill()
            await recorder.wait()


def hottest(
    collapsed: str, top: int = 15
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Share of samples per function, largest first: by own time (any code), and by inclusive
    time for Sottovoce's own functions (the ones the server team can change)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            if OWN_CODE in frame and ENTRY_POINTS not in frame:
                inclusive[frame] += count
    if total == 0:
        return [], []

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(top)]

    return shares(own), shares(inclusive)


def _function(frame: str) -> str:
    """``name (path:line)`` → ``name (path)``: lines of one function add up."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summary(path: Path) -> str:
    by_self, by_inclusive = hottest(path.read_text() if path.exists() else "")
    lines = [f"profile {path.name}: top functions by own samples"]
    lines += [f"  {share:6.1%}  {name}" for name, share in by_self]
    lines += ["  Sottovoce functions by inclusive samples:"]
    lines += [f"  {share:6.1%}  {name}" for name, share in by_inclusive]
    return "\n".join(lines)
