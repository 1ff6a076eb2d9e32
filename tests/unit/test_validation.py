from __future__ import annotations

import base64
import binascii
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.errors import BadRequest, TooLarge
from sottovoce.core.validation import b64_value, b64encode, dump_json, parse_json_object, text


@pytest.mark.parametrize(
    "data",
    [
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": -Infinity}',
        b'{"a": 1e400}',
        b'{"a": "\\ud800"}',
        b'{"\\udfff": 1}',
        b'{"a": "\\ud800x"}',
        b'{"a": "\xff\xfe"}',
        b'{"a": "\xed\xa0\x80"}',
        b'\xef\xbb\xbf{"a": 1}',
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-32"),
        b"[" * 1025 + b"]" * 1025,
        b"[" * 50_000 + b"]" * 50_000,
        b'{"a": 1} {}',
        b'{"a": "\x01"}',
        b"",
    ],
)
def test_what_is_not_plain_utf8_json_is_not_valid_json(data: bytes) -> None:
    with pytest.raises(BadRequest, match=r"^the body is not valid JSON$"):
        parse_json_object(data)
    with pytest.raises(BadRequest, match=r"^the frame is not valid JSON$"):
        # As a str too, with what is not UTF-8 carried as lone surrogates.
        parse_json_object(data.decode("utf-8", "surrogateescape"), "frame")


def test_json_that_is_not_an_object_is_refused_as_such() -> None:
    with pytest.raises(BadRequest, match="must be a JSON object"):
        parse_json_object("[1]")


def test_duplicate_keys_keep_the_last_value_as_before() -> None:
    assert parse_json_object('{"a": 1, "a": 2}') == {"a": 2}


def test_valid_json_decodes_as_json_loads_does() -> None:
    strings = '"é": "\\u00e9\\ud83d\\ude00\\u0000"'
    data = f'{{"a": [1, -0, 2.5, true, null], {strings}, "n": {2**64 - 1}}}'
    assert parse_json_object(data) == json.loads(data)
    assert parse_json_object(data.encode()) == json.loads(data)
    nested = parse_json_object('{"d": ' + "[" * 1000 + "]" * 1000 + "}")["d"]
    for _ in range(999):
        assert isinstance(nested, list) and len(nested) == 1
        nested = nested[0]
    assert nested == []


def test_integers_past_64_bits_are_not_integers() -> None:
    assert isinstance(parse_json_object('{"a": 18446744073709551616}')["a"], float)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_dump_json_never_fails_and_decodes_back(value: object) -> None:
    rendered = dump_json(value)
    # Valid UTF-8, as a TEXT frame must be, whatever the strings held (lone surrogates too).
    assert json.loads(rendered.decode("utf-8")) == value


def test_dump_json_writes_non_ascii_as_utf8_and_is_compact() -> None:
    assert (
        dump_json({"a": "é\u2028😀", "b": [1, None]}) == '{"a":"é\u2028😀","b":[1,null]}'.encode()
    )


def test_dump_json_escapes_what_utf8_cannot_hold() -> None:
    rendered = dump_json({"a": "é", "id": "\ud800", "n": 2**64})
    assert rendered == b'{"a":"\\u00e9","id":"\\ud800","n":18446744073709551616}'


def test_text_refuses_nul_and_lone_surrogates_and_takes_the_rest() -> None:
    assert text({"a": "é😀"}, "a", 4) == "é😀"
    with pytest.raises(BadRequest, match=r"^a must not contain NUL characters$"):
        text({"a": "x\x00"}, "a", 4)
    with pytest.raises(BadRequest, match=r"^a is not valid Unicode"):
        text({"a": "é\ud800"}, "a", 4)
    with pytest.raises(BadRequest, match=r"^a must be 1 to 4 characters long$"):
        text({"a": "abcde"}, "a", 4)
    with pytest.raises(BadRequest, match=r"^a must be a string$"):
        text({"a": 1}, "a", 4)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", b""), ("aGk=", b"hi"), ("aGk", b"hi"), ("aA", b"h"), ("aA==", b"h"), ("aA=", b"h")],
)
def test_base64_padded_or_not(value: str, expected: bytes) -> None:
    assert b64_value(value, "body", 10) == expected


@pytest.mark.parametrize(
    "value",
    ["a", "aGk==", "aG=k", "=aGk", "aGk=\n", " aGk", "aGk-", "aGk_", "aGké", "aA===", "aGk=aGk="],
)
def test_base64_is_strict(value: str) -> None:
    with pytest.raises(BadRequest, match=r"^body is not valid base64$"):
        b64_value(value, "body", 10)


def test_base64_limits() -> None:
    assert len(b64_value(base64.b64encode(bytes(10)).decode(), "body", 10)) == 10
    with pytest.raises(TooLarge, match=r"^body is over 10 bytes$"):
        b64_value(base64.b64encode(bytes(11)).decode(), "body", 10)
    with pytest.raises(TooLarge):
        b64_value("A" * 17, "body", 10)
    with pytest.raises(BadRequest, match=r"^body must be a base64 string$"):
        b64_value(b"aGk=", "body", 10)


@given(st.text(alphabet="AQgw+/=-_ \n\x00é", max_size=12))
def test_base64_accepts_exactly_what_b64decode_validate_does(value: str) -> None:
    padded = value + "=" * (-len(value) % 4)
    try:
        expected: bytes | None = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        expected = None
    try:
        got: bytes | None = b64_value(value, "body", 100)
    except BadRequest:
        got = None
    assert got == expected


@given(st.binary(max_size=100))
def test_b64encode_is_standard_padded_base64(data: bytes) -> None:
    assert b64encode(data) == base64.b64encode(data).decode()
