"""Checks for decoded JSON objects, shared by the HTTP API and the WebSocket frame codec.

Every failure is a ``BadRequest`` whose message names the field, so clients can fix themselves.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Collection, Mapping

from sottovoce.core.errors import BadRequest, TooLarge

JsonObject = Mapping[str, object]


def parse_json_object(data: str | bytes, what: str = "body") -> dict[str, object]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 too; RecursionError is nesting deeper than the parser goes.
        raise BadRequest(f"the {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    return value


def check_fields(
    obj: JsonObject, required: Collection[str], optional: Collection[str] = ()
) -> None:
    if obj.keys() == set(required):
        # The usual case, every frame a client sends, decided at a third of the cost.
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
    try:
        data = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{name} is not valid base64") from None
    if len(data) > max_bytes:
        raise TooLarge(f"{name} is over {max_bytes} bytes")
    return data


def b64(obj: JsonObject, name: str, max_bytes: int) -> bytes:
    return b64_value(obj.get(name), name, max_bytes)


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
