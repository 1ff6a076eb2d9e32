"""The measurement header survives both ways a body reaches a receiver, inside a body the server
takes for an MLS application message of the room."""

from __future__ import annotations

import base64
import json

import pytest
from bench.wire import BODY_SIZE, Stamp, encode_body, find_stamp, send_frame
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.delivery import Header, admit, read_header
from sottovoce.core.errors import BadRequest
from sottovoce.core.ids import new_room_id

stamps = st.builds(
    Stamp,
    step=st.integers(0, 2**16 - 1),
    sender=st.integers(0, 2**16 - 1),
    counter=st.integers(0, 2**32 - 1),
    sent_ns=st.integers(0, 2**64 - 1),
)
server_names = st.from_regex(r"[a-z0-9.-]{1,120}(:[0-9]{1,5})?", fullmatch=True)
ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:127.0.0.1"


@given(stamps)
def test_relayed_send_frame_gives_back_its_stamp(stamp: Stamp) -> None:
    assert find_stamp(send_frame("!room:localhost", stamp)) == stamp


@given(stamps, server_names)
def test_stamp_is_found_in_a_server_event_frame_with_spaced_json(
    stamp: Stamp, server_name: str
) -> None:
    room_id = new_room_id(server_name)
    event = {"room_id": room_id, "seq": 7, "kind": "message", "body": encode_body(room_id, stamp)}
    frame = json.dumps({"type": "event", "event": event}).encode()
    assert find_stamp(frame) == stamp


@given(stamps, server_names)
def test_body_is_an_application_private_message_of_the_room_at_epoch_0(
    stamp: Stamp, server_name: str
) -> None:
    room_id = new_room_id(server_name)
    body = base64.b64decode(encode_body(room_id, stamp), validate=True)
    header = read_header(room_id, body)
    assert header == Header(epoch=0, is_commit=False)
    assert admit(header, 0) == 0


def test_body_of_one_room_is_refused_in_another() -> None:
    body = base64.b64decode(encode_body(ROOM, Stamp(1, 2, 3, 4)))
    with pytest.raises(BadRequest):
        read_header("!BBBBBBBBBBBBBBBBBBBBBB:127.0.0.1", body)


def test_body_is_unpadded_base64_of_about_the_advertised_size() -> None:
    body = encode_body(ROOM, Stamp(1, 2, 3, 4))
    assert "=" not in body
    assert BODY_SIZE <= len(base64.b64decode(body, validate=True)) < BODY_SIZE + 3


def test_membership_event_body_is_not_taken_for_a_stamp() -> None:
    member_body = base64.b64encode(b'{"action": "join", "target": "@a:localhost"}').decode()
    frame = json.dumps({"type": "event", "event": {"kind": "member", "body": member_body}})
    assert find_stamp(frame.encode()) is None


def test_frames_without_a_body_have_no_stamp() -> None:
    ack = b'{"type": "ack", "id": "1.0.0", "room_id": "!r:localhost", "seq": 3}'
    assert find_stamp(ack) is None
    assert find_stamp(b'{"type": "event", "event": {"body": "%%%"}}') is None


def test_send_frame_is_a_protocol_send_with_unique_client_id() -> None:
    first = json.loads(send_frame(ROOM, Stamp(1, 2, 3, 4)))
    second = json.loads(send_frame(ROOM, Stamp(1, 2, 4, 4)))
    assert set(first) == {"type", "id", "room_id", "client_id", "body"}
    assert first["type"] == "send" and first["room_id"] == ROOM
    assert first["client_id"] != second["client_id"]
