"""``sotto room ...``: create, list, invite, join, leave, kick and change roles."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, client_command
from sottovoce.cli.output import emit, event_document, room_document, room_line
from sottovoce.core.errors import NotFound
from sottovoce.core.models import Event, Role, RoomKind

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers

ROOM_HELP = "room id (!…:server) or the name of a room you are in or invited to"
USER_HELP = "bob (meaning @bob on your server) or a full @bob:server"


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    room = subparsers.add_parser(
        "room",
        parents=[common],
        help="create, list and manage rooms",
        description="Create rooms, list them and manage who is in them.",
    )
    actions = room.add_subparsers(dest="room_action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a room",
        description="Create a group room (you are its owner), or a direct room with one user.",
    )
    create.add_argument("--name", required=True, help="room name, 1-128 characters")
    create.add_argument(
        "--direct", metavar="USER", help=f"make a direct room with this user ({USER_HELP})"
    )
    create.set_defaults(func=client_command(create_room, keystore=True))

    listing = actions.add_parser(
        "list",
        parents=[common],
        help="list your rooms",
        description="List the rooms you are joined to or invited to.",
    )
    listing.set_defaults(func=client_command(list_rooms))

    for name, summary, handler, with_user, keystore in (
        ("invite", "invite a user", invite, True, True),
        ("join", "accept an invitation", join, False, True),
        ("leave", "leave a room", leave, False, True),
        ("kick", "remove a member (owner and admins)", kick, True, True),
    ):
        action = actions.add_parser(name, parents=[common], help=summary, description=summary)
        action.add_argument("room", metavar="ROOM", help=ROOM_HELP)
        if with_user:
            action.add_argument("user", metavar="USER", help=USER_HELP)
        action.set_defaults(func=client_command(handler, keystore=keystore))

    role = actions.add_parser(
        "role",
        parents=[common],
        help="make a member an admin or a plain member (owner only)",
        description="Change a member's role; only the room's owner may.",
    )
    role.add_argument("room", metavar="ROOM", help=ROOM_HELP)
    role.add_argument("user", metavar="USER", help=USER_HELP)
    role.add_argument("role", choices=[Role.ADMIN.value, Role.MEMBER.value], help="the new role")
    role.set_defaults(func=client_command(set_role))


async def create_room(ctx: Context) -> None:
    args = ctx.args
    crypto = await ctx.crypto()
    if args.direct:
        direct = [ctx.user_id(args.direct)]
        room_id = await crypto.create_room(args.name, RoomKind.DIRECT, invite=direct)
    else:
        room_id = await crypto.create_room(args.name)
    room = await ctx.client.room(room_id)
    emit(ctx.json, room_document(room), room.room_id)


async def list_rooms(ctx: Context) -> None:
    me = ctx.session().user_id
    rooms = await ctx.client.rooms()
    text = "\n".join(room_line(r, me) for r in rooms) or "no rooms"
    emit(ctx.json, {"rooms": [room_document(r) for r in rooms]}, text)


def _done(ctx: Context, event: Event | None, text: str, room_id: str, user_id: str) -> None:
    """``event``: the membership event, None when an encryption flow made it among commits."""
    document = {"room_id": room_id, "user_id": user_id} if event is None else event_document(event)
    emit(ctx.json, document, text)


async def invite(ctx: Context) -> None:
    room_id, user = await ctx.room_id(ctx.args.room), ctx.user_id(ctx.args.user)
    await (await ctx.crypto()).invite(room_id, user)
    _done(ctx, None, f"invited {user} to {room_id}", room_id, user)


async def join(ctx: Context) -> None:
    room_id = await ctx.room_id(ctx.args.room)
    # The room's group is joined from the Welcome its inviter left in this device's mailbox;
    # joining the group joins the server room too.
    if room_id not in await (await ctx.crypto()).accept_welcomes():
        await ctx.client.room(room_id)  # not invited at all: the server's own refusal
        raise NotFound(
            f"no key material for {room_id} has reached this device yet: ask the inviter "
            "to invite you again after this device signed in"
        )
    _done(ctx, None, f"joined {room_id}", room_id, ctx.session().user_id)


async def leave(ctx: Context) -> None:
    room_id = await ctx.room_id(ctx.args.room)
    me = ctx.session().user_id
    # Proposes removing this user's devices from the group, then leaves the server room.
    await (await ctx.crypto()).leave(room_id)
    _done(ctx, None, f"left {room_id}", room_id, me)


async def kick(ctx: Context) -> None:
    room_id, user = await ctx.room_id(ctx.args.room), ctx.user_id(ctx.args.user)
    await (await ctx.crypto()).remove(room_id, user)
    _done(ctx, None, f"removed {user} from {room_id}", room_id, user)


async def set_role(ctx: Context) -> None:
    room_id, user = await ctx.room_id(ctx.args.room), ctx.user_id(ctx.args.user)
    role = Role(ctx.args.role)
    event = await ctx.client.set_role(room_id, user, role)
    _done(ctx, event, f"{user} is now {role.value}", room_id, user)
