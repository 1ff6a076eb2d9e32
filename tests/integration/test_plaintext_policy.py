"""A server accepts only MLS message bodies unless it is started with ``--allow-plaintext``."""

from __future__ import annotations

import secrets

import pytest

from tests.integration.conftest import PersonFactory
from tests.integration.harness import ServerProcess, b64, unb64


async def test_a_default_server_refuses_a_non_mls_body_and_stores_nothing(
    server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(server), await people(server)
    room = await alice.create_room(bob)
    marker = f"plain-{secrets.token_hex(8)}".encode()
    reply = await alice.call(
        "POST", f"/rooms/{room}/events", {"client_id": "c1", "body": b64(marker)}
    )
    assert (reply.status, reply.code) == (400, "bad_request"), reply.body
    ws = await bob.connect()
    frame = {"type": "send", "id": "s1", "room_id": room, "client_id": "c2", "body": b64(marker)}
    await ws.send(frame)
    error = await ws.wait_type("error")
    assert (error["id"], error["code"]) == ("s1", "bad_request"), error
    assert [e["kind"] for e in await alice.history(room)] == ["member"] * 3
    stored = b"".join(p.read_bytes() for p in server.data_dir.iterdir() if p.is_file())
    assert marker not in stored
    assert "plaintext_allowed" not in server.log_text()


@pytest.mark.plaintext
async def test_the_plaintext_opt_out_stores_any_body_and_warns_at_start(
    server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(server), await people(server)
    room = await alice.create_room(bob)
    marker = f"plain-{secrets.token_hex(8)}".encode()
    sent = (await alice.send(room, marker))["event"]
    assert sent["kind"] == "message"
    assert [unb64(e["body"]) for e in await bob.history(room) if e["kind"] == "message"] == [marker]
    assert '"event": "plaintext_allowed"' in server.log_text()
    assert '"level": "warning"' in server.log_text()
