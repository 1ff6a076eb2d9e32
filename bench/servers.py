"""Server processes under test: started pinned to CPU 0, watched through /proc, always stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

SERVER_CPU = "0"


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def console_script(name: str, *args: str) -> list[str]:
    """A script installed beside the running interpreter, e.g. ``sotto`` in the venv."""
    return [str(Path(sys.executable).parent / name), *args]


def add_sotto_argument(parser: argparse.ArgumentParser) -> None:
    """``--sotto``: the command line of the server to measure, split on spaces so that it can set
    an environment (``env PYTHONPATH=<copy>/src .venv/bin/python -m sottovoce``)."""
    parser.add_argument(
        "--sotto",
        type=str.split,
        default=console_script("sotto"),
        help="the sotto command to measure (default: this venv's)",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """A server process pinned with ``taskset``; its output goes to a log file."""

    def __init__(self, argv: Sequence[str], log_path: Path) -> None:
        self.argv = ["taskset", "-c", SERVER_CPU, *argv]
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, port: int, limit_s: float = 60.0) -> None:
        """Start the process and return once its port accepts connections."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        deadline = asyncio.get_running_loop().time() + limit_s
        while asyncio.get_running_loop().time() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log_path}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.1)
        await self.stop()
        raise TimeoutError(f"server did not listen on {port} within {limit_s} s: {self.log_path}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process so far, all threads, from /proc."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime are the stat file's fields 14 and 15, in clock ticks.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self) -> int:
        """Resident set size of the server process, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    async def stop(self, limit_s: float = 10.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), limit_s)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def pin_to_generator_cpu() -> None:
    """Keep the generator off the server's CPU even when not started through ``taskset``."""
    if len(os.sched_getaffinity(0)) > 1 and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
