"""The SDK's reading of server answers: well-formed JSON becomes typed values, anything else one
clear ``ProtocolViolation`` (client/records.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sottovoce.client.errors import ProtocolViolation
from sottovoce.client.records import event_from, room_from, session_from
from sottovoce.core.models import EventKind, MemberState, Role, RoomKind

EVENT: dict[str, Any] = {
    "room_id": "!AAAAAAAAAAAAAAAAAAAAAA:localhost",
    "seq": 7,
    "event_id": "$BBBBBBBBBBBBBBBBBBBBBB",
    "kind": "message",
    "sender": "@alice:localhost",
    "sender_device": "ABCDEFGHIJKL",
    "client_id": "c1",
    "body": "aGk=",
    "ts": 1,
}


def test_an_event_is_read_with_its_body_as_bytes() -> None:
    event = event_from(EVENT)
    assert (event.seq, event.kind, event.body) == (7, EventKind.MESSAGE, b"hi")


@pytest.mark.parametrize(
    "change",
    [{"seq": True}, {"seq": "7"}, {"body": "not base64!"}, {"kind": "poll"}, {"ts": None}],
)
def test_a_malformed_event_is_a_protocol_violation(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation):
        event_from({**EVENT, **change})


def test_a_missing_field_is_a_protocol_violation_that_names_it() -> None:
    broken = {k: v for k, v in EVENT.items() if k != "sender"}
    with pytest.raises(ProtocolViolation, match="sender"):
        event_from(broken)


def test_a_room_is_read_with_its_members() -> None:
    room = room_from(
        {
            "room_id": EVENT["room_id"],
            "kind": "group",
            "name": "team",
            "created_by": "@alice:localhost",
            "created_at": 1,
            "members": [{"user_id": "@alice:localhost", "role": "owner", "state": "joined"}],
            "last_seq": 3,
        }
    )
    assert room.kind is RoomKind.GROUP
    assert [(m.role, m.state) for m in room.members] == [(Role.OWNER, MemberState.JOINED)]


def test_session_tokens_never_appear_in_its_repr() -> None:
    session = session_from(
        {
            "user_id": "@alice:localhost",
            "device_id": "ABCDEFGHIJKL",
            "access_token": "secret-access",
            "refresh_token": "secret-refresh",
            "expires_in": 900,
        }
    )
    assert "secret" not in repr(session)
    assert session.server_name == "localhost"
