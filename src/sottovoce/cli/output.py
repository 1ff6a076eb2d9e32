"""How client commands print: a human line or table, or with --json one JSON document per
result (one object per line for streams). Message bodies are shown as UTF-8 text when they
decode, else as base64, and JSON output says which."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime

from sottovoce.client.records import DeviceInfo, RoomInfo, Sent, Session
from sottovoce.core.errors import SottoError
from sottovoce.core.models import Event, EventKind, MemberState
from sottovoce.core.wire import event_json


def emit(as_json: bool, document: object, text: str) -> None:
    print(json.dumps(document) if as_json else text, flush=True)


def report_error(as_json: bool, error: SottoError) -> None:
    if as_json:
        print(
            json.dumps({"error": {"code": error.code, "message": error.message}}), file=sys.stderr
        )
    else:
        print(f"sotto: {error.message}", file=sys.stderr)


def decoded_body(body: bytes) -> tuple[str, str]:
    """``(text, encoding)``: the UTF-8 text, or base64 when the bytes are not UTF-8."""
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"


def event_document(event: Event) -> dict[str, object]:
    body, encoding = decoded_body(event.body)
    return {**event_json(event), "body": body, "encoding": encoding}


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


_MEMBERSHIP = {
    "create": "created the room",
    "join": "joined",
    "leave": "left",
    "invite": "invited {target}",
    "kick": "removed {target}",
    "role": "made {target} {role}",
}


def _membership(event: Event) -> str:
    try:
        change = json.loads(event.body)
        template = _MEMBERSHIP[change["action"]]
        return f"* {event.sender} " + template.format(
            target=change["target"], role=change.get("role", "?")
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"* {event.sender} changed the membership"


def event_line(event: Event) -> str:
    head = f"[{event.seq}] {_clock(event.ts)}"
    if event.kind is EventKind.MEMBER:
        return f"{head} {_membership(event)}"
    body, encoding = decoded_body(event.body)
    return f"{head} {event.sender}: {body if encoding == 'utf-8' else 'base64:' + body}"


def session_document(server: str, session: Session) -> dict[str, object]:
    return {"server": server, "user_id": session.user_id, "device_id": session.device_id}


def room_document(room: RoomInfo) -> dict[str, object]:
    return {
        "room_id": room.room_id,
        "kind": room.kind.value,
        "name": room.name,
        "created_by": room.created_by,
        "created_at": room.created_at,
        "members": [
            {"user_id": m.user_id, "role": m.role.value, "state": m.state.value}
            for m in room.members
        ],
        "last_seq": room.last_seq,
    }


def room_line(room: RoomInfo, me: str) -> str:
    mine = next((m for m in room.members if m.user_id == me), None)
    state = mine.state.value if mine else "?"
    joined = sum(1 for m in room.members if m.state is MemberState.JOINED)
    return f"{room.room_id}  {room.name}  {room.kind.value}  {state}  {joined} joined"


def device_document(device: DeviceInfo) -> dict[str, object]:
    return {
        "device_id": device.device_id,
        "display_name": device.display_name,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "current": device.current,
    }


def device_line(device: DeviceInfo) -> str:
    current = "  (this device)" if device.current else ""
    seen = _clock(device.last_seen_at)
    return f"{device.device_id}  {device.display_name}  last seen {seen}{current}"


def sent_document(sent: Sent) -> dict[str, object]:
    return {
        "room_id": sent.room_id,
        "seq": sent.seq,
        "event_id": sent.event_id,
        "duplicate": sent.duplicate,
    }
