"""The async Python SDK: ``SottoClient`` and the values it hands out."""

from sottovoce.client.backoff import Backoff
from sottovoce.client.codec import BodyCodec, PlainCodec
from sottovoce.client.errors import ProtocolViolation, ServerUnreachable
from sottovoce.client.records import (
    DeviceInfo,
    KeyPackage,
    LiveItem,
    Page,
    Presence,
    RoomInfo,
    RoomMember,
    Sent,
    Session,
    Typing,
)
from sottovoce.client.sdk import SottoClient
from sottovoce.client.transport import SessionStore
from sottovoce.core.ids import new_client_id

__all__ = [
    "Backoff",
    "BodyCodec",
    "DeviceInfo",
    "KeyPackage",
    "LiveItem",
    "Page",
    "PlainCodec",
    "Presence",
    "ProtocolViolation",
    "RoomInfo",
    "RoomMember",
    "Sent",
    "ServerUnreachable",
    "Session",
    "SessionStore",
    "SottoClient",
    "Typing",
    "new_client_id",
]
