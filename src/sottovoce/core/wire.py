"""The JSON shapes of domain records on the wire (docs/protocol.md), for HTTP and WebSocket."""

from __future__ import annotations

from collections.abc import Iterable

from sottovoce.core.models import Device, Event, Mail, Member, Room
from sottovoce.core.validation import b64encode


def event_json(event: Event) -> dict[str, object]:
    return {
        "room_id": event.room_id,
        "seq": event.seq,
        "event_id": event.event_id,
        "kind": event.kind.value,
        "sender": event.sender,
        "sender_device": event.sender_device,
        "client_id": event.client_id,
        "body": b64encode(event.body),
        "ts": event.ts,
    }


def mail_json(mail: Mail) -> dict[str, object]:
    return {
        "id": mail.id,
        "sender": mail.sender,
        "sender_device": mail.sender_device,
        "kind": mail.kind,
        "body": b64encode(mail.body),
        "ts": mail.ts,
    }


def room_json(room: Room, members: Iterable[Member]) -> dict[str, object]:
    return {
        "room_id": room.room_id,
        "kind": room.kind.value,
        "name": room.name,
        "created_by": room.created_by,
        "created_at": room.created_at,
        "members": [
            {"user_id": m.user_id, "role": m.role.value, "state": m.state.value} for m in members
        ],
        "last_seq": room.last_seq,
    }


def device_json(device: Device, current_device: str) -> dict[str, object]:
    return {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "current": device.device_id == current_device,
    }
