"""The bare relay, storing every frame durably before it forwards it: the floor for any server
that does, on this machine.

Each text frame is inserted into SQLite (WAL, ``synchronous=FULL``, as Sottovoce runs it) and
committed, on the event loop's thread, before it goes to the other members: one commit, one
fsync, per frame, with nothing else added to the relay. Only the light scenario runs against it
(``make bench`` sets Sottovoce's light-load latency beside it as ``light-durable``): waiting for a
commit is what keeps Sottovoce's acknowledgements honest, and at light load, where every message
commits alone, it sets the latency that no durable server can go below here.

Run: ``python -m bench.relay_durable --port 8767``.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from picows import WSFrame, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from bench.relay import RoomMember, run, until_signalled

_SCHEMA = "CREATE TABLE frames (room BLOB, seq INTEGER, body BLOB, PRIMARY KEY (room, seq))"


class DurableMember(RoomMember):
    def __init__(self, room: set[WSTransport], name: bytes, db: sqlite3.Connection) -> None:
        super().__init__(room)
        self.name = name
        self.db = db

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "INSERT INTO frames SELECT ?1, coalesce(max(seq), 0) + 1, ?2 FROM frames "
                "WHERE room = ?1",
                (self.name, frame.get_payload_as_bytes()),
            )
            self.db.execute("COMMIT")
        super().on_ws_frame(transport, frame)


async def serve(host: str, port: int) -> None:
    rooms: dict[bytes, set[WSTransport]] = {}
    with tempfile.TemporaryDirectory(prefix="relay-durable-") as directory:
        db = sqlite3.connect(Path(directory) / "frames.db", isolation_level=None)
        for statement in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", _SCHEMA):
            db.execute(statement)

        def route(request: WSUpgradeRequest) -> DurableMember:
            return DurableMember(rooms.setdefault(request.path, set()), request.path, db)

        server = await ws_create_server(route, host, port, websocket_handshake_timeout=10)
        print(f"durable relay listening on {host}:{port}", flush=True)
        try:
            await until_signalled()
        finally:
            server.close()
            db.close()


def main() -> None:
    run(serve, 8767, __doc__)


if __name__ == "__main__":
    main()
