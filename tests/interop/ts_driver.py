"""A ts-mls process (driver.mjs) seen from Python: one request, one reply, bytes as hex."""

from __future__ import annotations

import json
import shutil
import subprocess
from itertools import count
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "driver.mjs"

JSON = dict[str, Any]


class TsMlsRejected(Exception):
    """ts-mls refused an operation; the message is ts-mls's own error."""

    def __init__(self, op: str, error: str) -> None:
        super().__init__(f"ts-mls rejected {op}: {error}")
        self.op = op
        self.error = error


def missing_requirement() -> str | None:
    """Why the driver cannot start here, or None if it can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not (HERE / "node_modules" / "ts-mls" / "package.json").is_file():
        return "tests/interop/node_modules is missing: run `make interop-deps`"
    return None


class TsMls:
    """One driver process holding any number of ts-mls members by name."""

    def __init__(self) -> None:
        node = shutil.which("node")
        assert node is not None
        self._process = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=HERE,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._ids = count(1)

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)

    def call(self, op: str, **arguments: Any) -> JSON:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        assert not {"id", "op"} & arguments.keys(), "id and op frame the request"
        request_id = next(self._ids)
        stdin.write(json.dumps({"id": request_id, "op": op, **arguments}) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"ts-mls driver exited during {op} (code {self._process.poll()})")
        reply: JSON = json.loads(line)
        assert reply["id"] == request_id
        if not reply["ok"]:
            raise TsMlsRejected(op, reply["error"])
        result: JSON = reply["result"]
        return result
