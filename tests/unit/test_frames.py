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


SEND = {"type": "send", "id": "1", "room_id": ROOM, "client_id": "c", "body": "aGk="}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"room_id": None, "body": None}, "missing field(s): room_id, body"),
        ({"zz": 1, "extra": 2}, "unknown field(s): extra, zz"),
        ({"id": 1}, "id must be a string"),
        ({"id": "x" * 65}, "id must be 1 to 64 characters long"),
        ({"id": "a\x00"}, "id must not contain NUL characters"),
        ({"room_id": 7}, "room_id must be a string"),
        ({"room_id": "!" * 301}, "room_id must be 1 to 300 characters long"),
        ({"room_id": "!a:b"}, "not a room id: '!a:b' (expected !id:server)"),
        ({"room_id": ROOM + "\x00"}, "room_id must not contain NUL characters"),
        ({"client_id": ""}, "client_id must be 1 to 64 characters long"),
        ({"client_id": "é" * 65}, "client_id must be 1 to 64 characters long"),
        ({"body": 5}, "body must be a base64 string"),
        ({"body": "aGk=="}, "body is not valid base64"),
        ({"body": "aGké"}, "body is not valid base64"),
        # The first failing field is the one named, in the order id, room_id, client_id, body.
        ({"id": "", "room_id": "x", "body": "%"}, "id must be 1 to 64 characters long"),
        (
            {"room_id": "x", "client_id": "", "body": "%"},
            "not a room id: 'x' (expected !id:server)",
        ),
        ({"client_id": 1, "body": "%"}, "client_id must be a string"),
    ],
)
def test_bad_send_frames_name_what_is_wrong(fields: dict[str, object], message: str) -> None:
    bad = {**SEND, **fields}
    data = json.dumps({k: v for k, v in bad.items() if v is not None})
    with pytest.raises(BadRequest) as refused:
        decode_frame(data)
    assert refused.value.message == message
    assert refused.value.code == "bad_request"


def test_send_frame_takes_any_unicode_ids_and_echoes_them_as_utf8() -> None:
    parsed = decode_frame(frame(type="send", id="é😀", room_id=ROOM, client_id="ü\u2028", body=""))
    assert parsed == Send(id="é😀", room_id=ROOM, client_id="ü\u2028", body=b"")
    event = Event(ROOM, 1, "$e", EventKind.MESSAGE, "@a:localhost", "DEV", parsed.client_id, b"", 1)
    rendered = event_frame(event)
    assert "ü\u2028".encode() in rendered
    assert json.loads(rendered.decode("utf-8"))["event"]["client_id"] == "ü\u2028"
    assert "é😀".encode() in ack_frame(parsed.id, event, duplicate=False)


def test_integers_past_64_bits_are_refused_as_not_integers() -> None:
    with pytest.raises(BadRequest, match=r"^seq must be an integer$"):
        decode_frame(f'{{"type": "receipt", "room_id": "{ROOM}", "seq": {2**64}}}')
    with pytest.raises(BadRequest, match=r"^seq must be between 0 and"):
        decode_frame(f'{{"type": "receipt", "room_id": "{ROOM}", "seq": {2**64 - 1}}}')


@pytest.mark.parametrize(
    "data",
    [
        f'{{"type": "receipt", "room_id": "{ROOM}", "seq": NaN}}',
        f'{{"type": "receipt", "room_id": "{ROOM}", "seq": Infinity}}',
        '{"type": "ping", "id": "\\ud800"}',
        b'{"type": "ping", "id": "\xed\xa0\x80"}',
        "[" * 1025 + "]" * 1025,
    ],
)
def test_what_json_loads_let_through_is_not_valid_json(data: str | bytes) -> None:
    with pytest.raises(BadRequest, match=r"^the frame is not valid JSON$"):
        decode_frame(data)


def test_duplicate_fields_keep_the_last_value() -> None:
    assert decode_frame('{"type": "ping", "id": "a", "id": "b"}') == Ping("b")


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
    assert json.loads(pong_frame("\ud800").decode("ascii")) == {"type": "pong", "id": "\ud800"}
    refused = BadRequest("unknown field(s): \udcff", seq=2**70)
    assert json.loads(error_frame("r", refused).decode("ascii"))["seq"] == 2**70


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
