"""Domain records shared by the store, the server and the SDK. Plain, immutable values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RegistrationMode(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    CLOSED = "closed"


class RoomKind(StrEnum):
    GROUP = "group"
    DIRECT = "direct"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class MemberState(StrEnum):
    INVITED = "invited"
    JOINED = "joined"
    LEFT = "left"
    KICKED = "kicked"


class EventKind(StrEnum):
    MESSAGE = "message"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    password_hash: str
    is_admin: bool
    disabled: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    user_id: str
    display_name: str
    created_at: int
    last_seen_at: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class RefreshToken:
    token_hash: bytes
    device_id: str
    family_id: str
    # Set when the token has been exchanged; presenting it again means theft.
    rotated_at: int | None
    expires_at: int


@dataclass(frozen=True, slots=True)
class InviteCode:
    code: str
    uses_left: int
    expires_at: int | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Room:
    room_id: str
    kind: RoomKind
    name: str
    created_by: str
    created_at: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class Member:
    room_id: str
    user_id: str
    role: Role
    state: MemberState


@dataclass(frozen=True, slots=True)
class Event:
    room_id: str
    seq: int
    event_id: str
    kind: EventKind
    sender: str
    sender_device: str
    client_id: str
    body: bytes
    ts: int


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event before the store has given it a sequence number."""

    room_id: str
    event_id: str
    kind: EventKind
    sender: str
    sender_device: str
    client_id: str
    body: bytes
    ts: int


@dataclass(frozen=True, slots=True)
class MembershipChange:
    """The new state of one member, applied in the same transaction as its timeline event."""

    user_id: str
    role: Role
    state: MemberState


@dataclass(frozen=True, slots=True)
class Mail:
    id: int
    recipient_device: str
    sender: str
    sender_device: str
    kind: str
    body: bytes
    ts: int


@dataclass(frozen=True, slots=True)
class NewMail:
    recipient_user: str
    recipient_device: str
    sender: str
    sender_device: str
    kind: str
    body: bytes
    ts: int


@dataclass(frozen=True, slots=True)
class ClaimedPackage:
    device_id: str
    package: bytes
    last_resort: bool


@dataclass(frozen=True, slots=True)
class Receipt:
    room_id: str
    user_id: str
    seq: int
