"""Identifier rules: ``@user:server``, ``!room:server``, ``$event`` and device ids.

Ids carry the server name from day one so that federation needs no migration.
"""

from __future__ import annotations

import re
import secrets

from sottovoce.core.errors import BadRequest, InvalidUsername

_LOCALPART = re.compile(r"[a-z0-9._=-]{1,64}")
_SERVER_NAME = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
# One match for a whole room id (every send names one): the opaque part holds no ":", so the
# server name is what follows the first.
_ROOM_ID = re.compile(r"![A-Za-z0-9_-]{22}:" + _SERVER_NAME.pattern)
_DEVICE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
DEVICE_ID = re.compile(r"[A-Z0-9]{12}")


def normalize_localpart(username: str) -> str:
    """Lower-case and validate a username; raise ``InvalidUsername`` if it cannot be a localpart."""
    name = username.strip().lower()
    if name.startswith("@"):
        name = name[1:]
    if not _LOCALPART.fullmatch(name):
        raise InvalidUsername(
            f"usernames are 1-64 characters of a-z, 0-9 and . _ = - (got {username[:80]!r})"
        )
    return name


def user_id(localpart: str, server_name: str) -> str:
    return f"@{localpart}:{server_name}"


def parse_user_id(value: str) -> tuple[str, str]:
    """Split ``@local:server`` into its parts; raise ``BadRequest`` when it is not a user id."""
    if not value.startswith("@") or ":" not in value:
        raise BadRequest(f"not a user id: {value[:80]!r} (expected @name:server)")
    local, _, server = value[1:].partition(":")
    if not _LOCALPART.fullmatch(local) or not _SERVER_NAME.fullmatch(server):
        raise BadRequest(f"not a user id: {value[:80]!r} (expected @name:server)")
    return local, server


def parse_room_id(value: str) -> str:
    """Validate ``!opaque:server`` and return it unchanged."""
    if not _ROOM_ID.fullmatch(value):
        raise BadRequest(f"not a room id: {value[:80]!r} (expected !id:server)")
    return value


def new_room_id(server_name: str) -> str:
    return f"!{secrets.token_urlsafe(16)}:{server_name}"


def new_event_id() -> str:
    return f"${secrets.token_urlsafe(16)}"


def new_device_id() -> str:
    return "".join(secrets.choice(_DEVICE_ALPHABET) for _ in range(12))
