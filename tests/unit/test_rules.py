from __future__ import annotations

import pytest

from sottovoce.core.errors import AlreadyMember, Forbidden, NotInvited, NotMember
from sottovoce.core.models import Member, MemberState, Role, RoomKind
from sottovoce.core.rules import (
    check_invite,
    check_join,
    check_kick,
    check_leave,
    check_send,
    check_set_role,
)

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"


def member(name: str, role: Role = Role.MEMBER, state: MemberState = MemberState.JOINED) -> Member:
    return Member(room_id=ROOM, user_id=f"@{name}:localhost", role=role, state=state)


OWNER = member("owner", Role.OWNER)
ADMIN = member("admin", Role.ADMIN)
ADMIN2 = member("admin2", Role.ADMIN)
ALICE = member("alice")
BOB = member("bob")
INVITED = member("carol", state=MemberState.INVITED)
LEFT = member("dave", state=MemberState.LEFT)


def test_joined_members_send_and_others_do_not() -> None:
    check_send(ALICE, ROOM)
    for outsider in (None, INVITED, LEFT):
        with pytest.raises(NotMember):
            check_send(outsider, ROOM)


def test_any_joined_member_may_invite_to_a_group_room() -> None:
    check_invite(RoomKind.GROUP, ALICE, None, ROOM)
    check_invite(RoomKind.GROUP, ALICE, LEFT, ROOM)


def test_nobody_invites_into_a_direct_room() -> None:
    with pytest.raises(Forbidden):
        check_invite(RoomKind.DIRECT, OWNER, None, ROOM)


def test_inviting_a_member_or_invitee_again_is_refused() -> None:
    for target in (BOB, INVITED):
        with pytest.raises(AlreadyMember):
            check_invite(RoomKind.GROUP, ALICE, target, ROOM)


def test_outsiders_cannot_invite() -> None:
    with pytest.raises(NotMember):
        check_invite(RoomKind.GROUP, INVITED, None, ROOM)


def test_join_needs_an_invitation() -> None:
    check_join(INVITED, INVITED.user_id, ROOM)
    for target in (None, LEFT):
        with pytest.raises(NotInvited):
            check_join(target, "@x:localhost", ROOM)
    with pytest.raises(AlreadyMember):
        check_join(ALICE, ALICE.user_id, ROOM)


def test_invitees_may_decline_by_leaving_but_outsiders_cannot_leave() -> None:
    check_leave(INVITED, INVITED.user_id, ROOM)
    check_leave(ALICE, ALICE.user_id, ROOM)
    with pytest.raises(NotMember):
        check_leave(LEFT, LEFT.user_id, ROOM)


@pytest.mark.parametrize(("actor", "target"), [(OWNER, ADMIN), (OWNER, ALICE), (ADMIN, ALICE)])
def test_owner_and_admins_kick_those_below_them(actor: Member, target: Member) -> None:
    check_kick(actor, target, ROOM)


def test_admin_may_kick_an_invitee() -> None:
    check_kick(ADMIN, INVITED, ROOM)


@pytest.mark.parametrize(
    ("actor", "target"),
    [(ALICE, BOB), (ADMIN, OWNER), (ADMIN, ADMIN2), (OWNER, OWNER), (ADMIN, ADMIN)],
)
def test_forbidden_kicks(actor: Member, target: Member) -> None:
    with pytest.raises(Forbidden):
        check_kick(actor, target, ROOM)


def test_kicking_a_non_member_says_so() -> None:
    with pytest.raises(NotMember):
        check_kick(OWNER, LEFT, ROOM)


def test_only_the_owner_sets_roles() -> None:
    check_set_role(OWNER, ALICE, Role.ADMIN, ROOM)
    check_set_role(OWNER, ADMIN, Role.MEMBER, ROOM)
    with pytest.raises(Forbidden):
        check_set_role(ADMIN, ALICE, Role.ADMIN, ROOM)


def test_ownership_is_not_transferable_and_owner_cannot_demote_self() -> None:
    with pytest.raises(Forbidden):
        check_set_role(OWNER, ALICE, Role.OWNER, ROOM)
    with pytest.raises(Forbidden):
        check_set_role(OWNER, OWNER, Role.MEMBER, ROOM)
