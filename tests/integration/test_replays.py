"""The server refuses a replayed MLS message: bytes the room already holds, sent again under
another client_id (a retry with the same client_id is still answered as a duplicate)."""

from __future__ import annotations

from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package
from tests.integration.conftest import PersonFactory
from tests.integration.harness import ServerProcess, b64, unb64


async def test_a_replayed_mls_message_is_refused_and_stored_once(
    any_server: ServerProcess, people: PersonFactory
) -> None:
    alice, bob = await people(any_server), await people(any_server)
    room = await alice.create_room(bob)
    group = Group.create(
        room.encode(), generate_key_package(b"alice"), GroupConfig(accept_any_credential)
    )
    message = group.encrypt(b"once")
    first = await alice.send(room, message, client_id="m1")
    assert await alice.send(room, message, client_id="m1") == {**first, "duplicate": True}

    path = f"/rooms/{room}/events"
    for sender, client_id in ((alice, "m2"), (bob, "m1")):
        reply = await sender.call("POST", path, {"client_id": client_id, "body": b64(message)})
        assert (reply.status, reply.code) == (409, "replayed_message"), reply.body
    ws = await bob.connect()
    frame = {"type": "send", "id": "r", "room_id": room, "client_id": "m3", "body": b64(message)}
    await ws.send(frame)
    error = await ws.wait_type("error")
    assert (error["id"], error["code"]) == ("r", "replayed_message"), error
    stored = [unb64(e["body"]) for e in await bob.history(room) if e["kind"] == "message"]
    assert stored == [message]
