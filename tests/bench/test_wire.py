"""The measurement header survives both ways a body reaches a receiver."""

from __future__ import annotations

import base64
import json

from bench.wire import BODY_SIZE, Stamp, encode_body, find_stamp, send_frame
from hypothesis import given
from hypothesis import strategies as st

stamps = st.builds(
    Stamp,
    step=st.integers(0, 2**16 - 1),
    sender=st.integers(0, 2**16 - 1),
    counter=st.integers(0, 2**32 - 1),
    sent_ns=st.integers(0, 2**64 - 1),
)


@given(stamps)
def test_relayed_send_frame_gives_back_its_stamp(stamp: Stamp) -> None:
    assert find_stamp(send_frame("!room:localhost", stamp)) == stamp


@given(stamps)
def test_stamp_is_found_in_a_server_event_frame_with_spaced_json(stamp: Stamp) -> None:
    event = {"room_id": "!r:localhost", "seq": 7, "kind": "message", "body": encode_body(stamp)}
    frame = json.dumps({"type": "event", "event": event}).encode()
    assert find_stamp(frame) == stamp


def test_body_is_valid_base64_of_the_advertised_size() -> None:
    body = encode_body(Stamp(1, 2, 3, 4))
    assert len(base64.b64decode(body, validate=True)) == BODY_SIZE


def test_membership_event_body_is_not_taken_for_a_stamp() -> None:
    member_body = base64.b64encode(b'{"action": "join", "target": "@a:localhost"}').decode()
    frame = json.dumps({"type": "event", "event": {"kind": "member", "body": member_body}})
    assert find_stamp(frame.encode()) is None


def test_frames_without_a_body_have_no_stamp() -> None:
    ack = b'{"type": "ack", "id": "1.0.0", "room_id": "!r:localhost", "seq": 3}'
    assert find_stamp(ack) is None
    assert find_stamp(b'{"type": "event", "event": {"body": "%%%"}}') is None


def test_send_frame_is_a_protocol_send_with_unique_client_id() -> None:
    first = json.loads(send_frame("!r:localhost", Stamp(1, 2, 3, 4)))
    second = json.loads(send_frame("!r:localhost", Stamp(1, 2, 4, 4)))
    assert set(first) == {"type", "id", "room_id", "client_id", "body"}
    assert first["type"] == "send" and first["room_id"] == "!r:localhost"
    assert first["client_id"] != second["client_id"]
