from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.errors import BadRequest, SottoError, TooLarge, UnknownFrame
from sottovoce.core.frames import (
    MAX_BODY,
    MAX_FRAME,
    Auth,
    MailboxAck,
    Ping,
    Presence,
    ReceiptFrame,
    Send,
    Typing,
    ack_frame,
    decode_frame,
    error_frame,
    event_frame,
    parse_frame_object,
    pong_frame,
    request_id,
)
from sottovoce.core.models import Event, EventKind

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"


def frame(**fields: object) -> str:
    return json.dumps(fields)


def test_auth_frame_with_cursors() -> None:
    parsed = decode_frame(frame(type="auth", token="t", since={ROOM: 41}))
    assert parsed == Auth(token="t", since={ROOM: 41})
    assert decode_frame(frame(type="auth", token="t")) == Auth(token="t", since={})


def test_send_frame_decodes_padded_and_unpadded_body() -> None:
    for body in ("aGk=", "aGk"):
        parsed = decode_frame(frame(type="send", id="1", room_id=ROOM, client_id="c", body=body))
        assert parsed == Send(id="1", room_id=ROOM, client_id="c", body=b"hi")


def test_every_client_frame_type_parses() -> None:
    assert decode_frame(frame(type="typing", room_id=ROOM, typing=True)) == Typing(ROOM, True)
    assert decode_frame(frame(type="receipt", room_id=ROOM, seq=3)) == ReceiptFrame(ROOM, 3)
    assert decode_frame(frame(type="presence", status="away")) == Presence("away")
    assert decode_frame(frame(type="mailbox_ack", up_to=9)) == MailboxAck(9)
    assert decode_frame(frame(type="ping", id="p")) == Ping("p")


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[1, 2]",
        frame(token="t"),
        frame(type=5),
        frame(type="send", id="1", room_id=ROOM, client_id="c"),
        frame(type="send", id="1", room_id=ROOM, client_id="c", body="%%%"),
        frame(type="send", id="1", room_id="not-a-room", client_id="c", body=""),
        frame(type="send", id="1", room_id=ROOM, client_id="", body=""),
        frame(type="send", id="x" * 65, room_id=ROOM, client_id="c", body=""),
        frame(type="typing", room_id=ROOM, typing="yes"),
        frame(type="receipt", room_id=ROOM, seq=True),
        frame(type="receipt", room_id=ROOM, seq=-1),
        frame(type="presence", status="offline"),
        frame(type="ping", id="p", extra=1),
        frame(type="auth", token="t", since={ROOM: "4"}),
        frame(type="auth", token="t", since={"@u:localhost": 4}),
        frame(type="send", id="1", room_id=ROOM, client_id="a\x00", body=""),
        frame(type="send", id="1", room_id=ROOM, client_id="\ud800", body=""),
        frame(type="receipt", room_id=ROOM, seq=2**63),
        "[" * 40_000 + "]" * 40_000,
        b'{"type": "ping", "id": "\xff\xfe"}',
    ],
)
def test_malformed_frames_are_bad_requests(bad: str | bytes) -> None:
    with pytest.raises(BadRequest):
        decode_frame(bad)


def test_unknown_frame_type_has_its_own_code() -> None:
    with pytest.raises(UnknownFrame):
        decode_frame(frame(type="teleport"))


def test_body_over_64_kib_is_too_large() -> None:
    body = base64.b64encode(b"x" * (MAX_BODY + 1)).decode()
    with pytest.raises(TooLarge):
        decode_frame(frame(type="send", id="1", room_id=ROOM, client_id="c", body=body))


def test_body_of_exactly_64_kib_fits() -> None:
    body = base64.b64encode(b"x" * MAX_BODY).decode()
    parsed = decode_frame(frame(type="send", id="1", room_id=ROOM, client_id="c", body=body))
    assert isinstance(parsed, Send) and len(parsed.body) == MAX_BODY


def test_frame_over_96_kib_is_too_large() -> None:
    with pytest.raises(TooLarge):
        parse_frame_object(frame(type="ping", id="p", pad="x" * MAX_FRAME))


def test_request_id_is_echoed_only_when_usable() -> None:
    assert request_id({"id": "r1"}) == "r1"
    assert request_id({"id": "\ud800"}) is None
    assert request_id({"id": 5}) is None
    assert request_id({"id": "x" * 65}) is None


@given(st.text(max_size=200))
def test_arbitrary_text_never_escapes_the_error_hierarchy(data: str) -> None:
    with contextlib.suppress(SottoError):
        decode_frame(data)


@given(st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=10)))
def test_arbitrary_objects_never_escape_the_error_hierarchy(obj: dict[str, object]) -> None:
    for kind in ("auth", "send", "typing", "receipt", "presence", "mailbox_ack", "ping"):
        with contextlib.suppress(SottoError):
            decode_frame(json.dumps({**obj, "type": kind}))


EVENT = Event(
    room_id=ROOM,
    seq=7,
    event_id="$e",
    kind=EventKind.MESSAGE,
    sender="@a:localhost",
    sender_device="DEV",
    client_id="c",
    body=b"\x00\xff",
    ts=123,
)


def test_event_frame_renders_body_as_padded_base64() -> None:
    rendered = json.loads(event_frame(EVENT))
    assert rendered == {
        "type": "event",
        "event": {
            "room_id": ROOM,
            "seq": 7,
            "event_id": "$e",
            "kind": "message",
            "sender": "@a:localhost",
            "sender_device": "DEV",
            "client_id": "c",
            "body": "AP8=",
            "ts": 123,
        },
    }


def test_server_frames_stay_encodable_whatever_a_string_holds() -> None:
    assert json.loads(pong_frame("\ud800")) == {"type": "pong", "id": "\ud800"}


def test_ack_and_error_frames() -> None:
    assert json.loads(ack_frame("r", EVENT, duplicate=True)) == {
        "type": "ack",
        "id": "r",
        "room_id": ROOM,
        "seq": 7,
        "event_id": "$e",
        "duplicate": True,
    }
    assert json.loads(error_frame(None, BadRequest("nope"))) == {
        "type": "error",
        "id": None,
        "code": "bad_request",
        "message": "nope",
    }
