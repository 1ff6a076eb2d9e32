"""A refused WebSocket frame is answered with its own id when it carries a usable one, whatever
refused it: the frame's parsing, an unknown type, or the checks of a send (membership, MLS)."""

from __future__ import annotations

import json

from tests.integration.conftest import PersonFactory
from tests.integration.harness import ServerProcess, b64


async def test_refusals_name_the_frames_id_when_it_is_usable(
    shared_server: ServerProcess, people: PersonFactory
) -> None:
    person, outsider = await people(shared_server), await people(shared_server)
    room = await person.create_room()
    other = await outsider.create_room()
    ws = await person.connect()
    send = {"type": "send", "room_id": room, "client_id": "c"}
    cases = [
        ('{"type": "ping", "id": "p1", "extra": true}', "p1", "bad_request"),
        ('{"type": "ping", "id": 5}', None, "bad_request"),
        ('{"type": "ping", "id": "' + "x" * 65 + '"}', None, "bad_request"),
        ('{"type": "explode", "id": "e1"}', "e1", "unknown_frame"),
        ("{oops", None, "bad_request"),
        # Refused by the send's checks, after its parsing: not MLS, not a member.
        (json.dumps({**send, "id": "s1", "body": b64(b"plain text")}), "s1", "bad_request"),
        (json.dumps({**send, "id": "s2", "room_id": other, "body": "AA=="}), "s2", "not_member"),
        (
            json.dumps({"type": "typing", "room_id": other, "typing": True, "id": "t1"}),
            "t1",
            "not_member",
        ),
    ]
    for raw, rid, code in cases:
        await ws.ws.send_str(raw)
        error = await ws.wait_type("error")
        assert (error["id"], error["code"]) == (rid, code), (raw, error)
    assert [e["kind"] for e in await person.history(room)] == ["member"]
