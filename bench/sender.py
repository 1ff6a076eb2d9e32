"""A connection that sends benchmark messages and waits for the server to acknowledge them."""

from __future__ import annotations

import json
import time

from bench.clock import wait_until
from bench.wire import Stamp, send_frame
from bench.wsconn import Connection

ACK_WAIT_S = 30.0


class Sender:
    """A connection that is never dropped; it learns each message's ``seq`` from its ack."""

    def __init__(self) -> None:
        self.acks: dict[str, int] = {}
        self.errors: list[str] = []

    def on_text(self, payload: bytes) -> None:
        if b'"ack"' in payload or b'"error"' in payload:
            frame = json.loads(payload)
            if frame.get("type") == "ack":
                self.acks[frame["id"]] = frame["seq"]
            elif frame.get("type") == "error":
                self.errors.append(str(frame.get("code")))

    async def send(
        self, conn: Connection, room_id: str, step: int, count: int, durable: bool
    ) -> int:
        """Send ``count`` messages; for a durable target, return the last ``seq`` acknowledged."""
        stamps = [Stamp(step, 0, n, time.monotonic_ns()) for n in range(count)]
        for stamp in stamps:
            conn.send(send_frame(room_id, stamp))
        if not durable:
            return 0
        last = f"{step}.0.{count - 1}"
        if not await wait_until(lambda: last in self.acks, ACK_WAIT_S):
            raise TimeoutError(f"no ack for {last} in {ACK_WAIT_S} s; errors: {self.errors[:5]}")
        return self.acks[last]
