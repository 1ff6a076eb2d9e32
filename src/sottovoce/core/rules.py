"""Room permission rules as pure functions over membership records.

``owner`` may do everything; ``admin`` may invite and kick members; ``member`` may invite (group
rooms only) and send. Only the owner changes roles, nobody kicks the owner, and an admin cannot kick
another admin. A direct room has exactly its two founding members.
Each check returns nothing or raises the error the caller sends back.
"""

from __future__ import annotations

from sottovoce.core.errors import AlreadyMember, Forbidden, NotInvited, NotMember
from sottovoce.core.models import Member, MemberState, Role, RoomKind

_ACTIVE = (MemberState.JOINED, MemberState.INVITED)


def is_joined(member: Member | None) -> bool:
    return member is not None and member.state is MemberState.JOINED


def is_active(member: Member | None) -> bool:
    """Joined or invited: counted in the room's member list."""
    return member is not None and member.state in _ACTIVE


def require_joined(actor: Member | None, room_id: str) -> Member:
    if actor is None or actor.state is not MemberState.JOINED:
        raise NotMember(f"you are not a member of {room_id}")
    return actor


def check_send(actor: Member | None, room_id: str) -> None:
    require_joined(actor, room_id)


def check_read(actor: Member | None, room_id: str) -> None:
    require_joined(actor, room_id)


def check_invite(kind: RoomKind, actor: Member | None, target: Member | None, room_id: str) -> None:
    require_joined(actor, room_id)
    if kind is RoomKind.DIRECT:
        raise Forbidden("a direct room has exactly two members: create a group room instead")
    if is_active(target):
        assert target is not None
        raise AlreadyMember(f"{target.user_id} is already {target.state.value} in {room_id}")


def check_join(target: Member | None, user_id: str, room_id: str) -> Member:
    """Return the invitation being accepted."""
    if target is None or target.state not in _ACTIVE:
        raise NotInvited(f"{user_id} has no invitation to {room_id}")
    if target.state is MemberState.JOINED:
        raise AlreadyMember(f"{user_id} is already joined to {room_id}")
    return target


def check_leave(actor: Member | None, user_id: str, room_id: str) -> Member:
    """Return the membership being given up (declining an invitation is leaving too)."""
    if actor is None or not is_active(actor):
        raise NotMember(f"{user_id} is not a member of {room_id}")
    return actor


def check_kick(actor: Member | None, target: Member | None, room_id: str) -> Member:
    """Return the member being kicked."""
    acting = require_joined(actor, room_id)
    if target is None or not is_active(target):
        raise NotMember("that user is not a member of this room")
    if acting.user_id == target.user_id:
        raise Forbidden("leave the room instead of kicking yourself")
    if acting.role is Role.MEMBER:
        raise Forbidden("only the owner and admins may kick")
    if target.role is Role.OWNER:
        raise Forbidden("nobody kicks the owner")
    if acting.role is Role.ADMIN and target.role is Role.ADMIN:
        raise Forbidden("an admin cannot kick another admin")
    return target


def check_set_role(actor: Member | None, target: Member | None, role: Role, room_id: str) -> Member:
    """Return the member whose role changes."""
    acting = require_joined(actor, room_id)
    if acting.role is not Role.OWNER:
        raise Forbidden("only the owner changes roles")
    if role is Role.OWNER:
        raise Forbidden("ownership cannot be given away")
    if target is None or not is_active(target):
        raise NotMember("that user is not a member of this room")
    if target.user_id == acting.user_id:
        raise Forbidden("the owner keeps the owner role")
    return target
