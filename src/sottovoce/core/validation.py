"""Checks for decoded JSON objects, shared by the HTTP API and the WebSocket frame codec.

Every failure is a ``BadRequest`` whose message names the field, so clients can fix themselves.
"""

from __future__ import annotations

import binascii
import functools
import json
from collections.abc import Collection, Mapping

import orjson

from sottovoce.core.errors import BadRequest, TooLarge

JsonObject = Mapping[str, object]


def parse_json_object(data: str | bytes, what: str = "body") -> dict[str, object]:
    """The JSON object in ``data`` (UTF-8 text), or ``BadRequest``.

    orjson (a fifth of json.loads' time) also refuses what RFC 8259 does not promise to carry
    and json.loads let through: NaN and Infinity, lone surrogates, escaped or encoded, anything
    but UTF-8 (a BOM, UTF-16), and nesting deeper than 1,024 levels. Integers beyond 64 bits
    come back as floats, so they fail an integer check as "must be an integer".
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise BadRequest(f"the {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    return value


# For what orjson refuses to encode: json escapes lone surrogates, and holds any integer.
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"))


def dump_json(value: object) -> bytes:
    """Compact JSON as UTF-8 bytes: non-ASCII characters as themselves, as RFC 8259 prefers.

    Never fails on a string, whatever a client managed to put into it: a lone surrogate (not
    encodable as UTF-8) makes the whole document ASCII-escaped instead, as all of them were
    before orjson (a tenth of the time).
    """
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return _ASCII_ENCODER.encode(value).encode()


@functools.cache
def _key_set(required: tuple[str, ...]) -> frozenset[str]:
    return frozenset(required)


def check_fields(
    obj: JsonObject, required: tuple[str, ...], optional: Collection[str] = ()
) -> None:
    if obj.keys() == _key_set(required):
        # The usual case, every frame a client sends: one comparison with a set built once per
        # kind of frame.
        return
    missing = [name for name in required if name not in obj]
    if missing:
        raise BadRequest(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(obj) - set(required) - set(optional))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")


def text(obj: JsonObject, name: str, max_len: int, min_len: int = 1) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    if not min_len <= len(value) <= max_len:
        raise BadRequest(f"{name} must be {min_len} to {max_len} characters long")
    check_storable(value, name)
    return value


def check_storable(value: str, name: str) -> None:
    """Refuse what databases and encoders cannot hold: NUL (PostgreSQL text) and lone surrogates
    (not encodable as UTF-8), both of which JSON can smuggle in as escapes."""
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters")
    if value.isascii():
        return
    try:
        value.encode()
    except UnicodeEncodeError:
        raise BadRequest(f"{name} is not valid Unicode (it holds a lone surrogate)") from None


def optional_text(obj: JsonObject, name: str, max_len: int, min_len: int = 1) -> str | None:
    return None if obj.get(name) is None else text(obj, name, max_len, min_len)


def integer(obj: JsonObject, name: str, minimum: int = 0, maximum: int = 2**63 - 1) -> int:
    value = obj.get(name)
    # bool is an int subclass; true is not a sequence number.
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name} must be between {minimum} and {maximum}")
    return value


def boolean(obj: JsonObject, name: str) -> bool:
    value = obj.get(name)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false")
    return value


def choice(obj: JsonObject, name: str, choices: Collection[str]) -> str:
    value = obj.get(name)
    if value not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(sorted(choices))}")
    assert isinstance(value, str)
    return value


def b64_value(value: object, name: str, max_bytes: int) -> bytes:
    """Decode standard base64, padded or not, refusing anything over ``max_bytes`` decoded."""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a base64 string")
    # Reject before decoding so an oversized value costs no work.
    if len(value) > 4 * ((max_bytes + 2) // 3):
        raise TooLarge(f"{name} is over {max_bytes} bytes")
    if len(value) % 4:
        value += "=" * (-len(value) % 4)
    try:
        # What base64.b64decode(validate=True) runs, without its wrapper's cost.
        data = binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{name} is not valid base64") from None
    if len(data) > max_bytes:
        raise TooLarge(f"{name} is over {max_bytes} bytes")
    return data


def b64(obj: JsonObject, name: str, max_bytes: int) -> bytes:
    return b64_value(obj.get(name), name, max_bytes)


def b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")
