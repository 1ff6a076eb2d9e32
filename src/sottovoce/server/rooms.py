"""Rooms and their timelines: creation, membership changes, sending and history."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Mapping, Sequence
from functools import partial

from sottovoce.bus.base import Bus, Ephemeral, EventStored
from sottovoce.core import rules
from sottovoce.core.delivery import Header, check_welcome, read_header
from sottovoce.core.errors import BadRequest, NotFound, NotMember
from sottovoce.core.frames import receipt_frame, typing_frame
from sottovoce.core.ids import new_event_id, new_room_id, parse_room_id, parse_user_id
from sottovoce.core.models import (
    Event,
    EventKind,
    Member,
    MembershipChange,
    MemberState,
    NewEvent,
    Role,
    Room,
    RoomKind,
)
from sottovoce.server.clock import Clock, now_ms
from sottovoce.server.mailbox import Outgoing, new_mails, publish_mail, require_devices
from sottovoce.server.membership import MembershipCache
from sottovoce.server.settler import Finished, Settler, Stored, resolve
from sottovoce.store.base import Append, MembershipRule, Store
from sottovoce.store.groupcommit import GroupCommit

MAX_INVITES = 100


def _member_body(action: str, target: str, role: Role | None = None) -> bytes:
    body: dict[str, str] = {"action": action, "target": target}
    if role is not None:
        body["role"] = role.value
    return json.dumps(body, separators=(",", ":")).encode()


def _unconditional(change: MembershipChange) -> MembershipRule:
    return lambda _members: change


def _member_client_id() -> str:
    # Membership events are not retried by clients; a random id keeps them out of the way of the
    # idempotency index.
    return f"member:{secrets.token_urlsafe(12)}"


class Rooms:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        members: MembershipCache,
        *,
        server_name: str,
        clock: Clock = time.time,
        require_mls: bool = True,
    ) -> None:
        self._store = store
        self._require_mls = require_mls
        self._bus = bus
        self._members = members
        self._server_name = server_name
        self._clock = clock
        # Every timeline append of this node goes through both, in the same order: the group
        # commit stores a room's appends in sequence order and the settler publishes them so.
        self._commits = GroupCommit(store)
        self._settler = Settler(self._stored)

    # Reading ----------------------------------------------------------------------------------

    async def _room(self, room_id: str) -> Room:
        room = await self._store.get_room(parse_room_id(room_id))
        if room is None:
            raise NotFound(f"no room {room_id[:80]!r}")
        return room

    async def get(self, uid: str, room_id: str) -> tuple[Room, list[Member]]:
        room = await self._room(room_id)
        members = await self._store.list_members(room.room_id)
        if not any(m.user_id == uid for m in members):
            rules.require_joined(None, room.room_id)
        return room, members

    async def list_for(self, uid: str) -> list[tuple[Room, list[Member]]]:
        rooms = await self._store.list_rooms_for_user(uid)
        return [(room, await self._store.list_members(room.room_id)) for room in rooms]

    async def events_after(self, uid: str, room_id: str, after: int, limit: int) -> list[Event]:
        room = await self._room(room_id)
        rules.check_read(await self._members.member(room.room_id, uid), room.room_id)
        return await self._store.events_after(room.room_id, after, limit)

    async def events_before(self, uid: str, room_id: str, before: int, limit: int) -> list[Event]:
        room = await self._room(room_id)
        rules.check_read(await self._members.member(room.room_id, uid), room.room_id)
        return await self._store.events_before(room.room_id, before, limit)

    async def member_of(self, uid: str, room_id: str) -> Member | None:
        return await self._members.member(room_id, uid)

    # Writing ----------------------------------------------------------------------------------

    async def create(
        self, uid: str, device: str, kind: RoomKind, name: str, invite: list[str]
    ) -> tuple[Room, list[Member]]:
        invitees = list(dict.fromkeys(invite))
        if len(invitees) > MAX_INVITES:
            raise BadRequest(f"at most {MAX_INVITES} invitations at creation")
        if uid in invitees:
            raise BadRequest("you are a member of your own room already")
        if kind is RoomKind.DIRECT and len(invitees) != 1:
            raise BadRequest("a direct room is created with exactly one invited user")
        for target in invitees:
            await self._require_user(target)
        now = now_ms(self._clock)
        room = Room(new_room_id(self._server_name), kind, name, uid, now, 0)
        first = self._new_event(room.room_id, uid, device, _member_body("create", uid), now)
        owner = MembershipChange(uid, Role.OWNER, MemberState.JOINED)
        event = await self._store.create_room(room, first, owner)
        await self._stored(event, owner)
        for target in invitees:
            # The creator's own invitations: the rules for inviting into an existing room (a
            # direct room takes nobody new) do not apply to the room being set up.
            invited = MembershipChange(target, Role.MEMBER, MemberState.INVITED)
            body = _member_body("invite", target)
            await self._append_member(room.room_id, uid, device, body, _unconditional(invited))
        return await self.get(uid, room.room_id)

    async def invite(self, uid: str, device: str, room_id: str, target: str) -> Event:
        room = await self._room(room_id)
        await self._require_user(target)

        def decide(members: Mapping[str, Member]) -> MembershipChange:
            rules.check_invite(room.kind, members.get(uid), members.get(target), room.room_id)
            return MembershipChange(target, Role.MEMBER, MemberState.INVITED)

        return await self._append_member(
            room.room_id, uid, device, _member_body("invite", target), decide
        )

    async def join(self, uid: str, device: str, room_id: str) -> Event:
        room = await self._room(room_id)

        def decide(members: Mapping[str, Member]) -> MembershipChange:
            target = rules.check_join(members.get(uid), uid, room.room_id)
            return MembershipChange(uid, target.role, MemberState.JOINED)

        return await self._append_member(
            room.room_id, uid, device, _member_body("join", uid), decide
        )

    async def leave(self, uid: str, device: str, room_id: str) -> Event:
        room = await self._room(room_id)

        def decide(members: Mapping[str, Member]) -> MembershipChange:
            actor = rules.check_leave(members.get(uid), uid, room.room_id)
            return MembershipChange(uid, actor.role, MemberState.LEFT)

        return await self._append_member(
            room.room_id, uid, device, _member_body("leave", uid), decide
        )

    async def kick(self, uid: str, device: str, room_id: str, target: str) -> Event:
        room = await self._room(room_id)
        parse_user_id(target)

        def decide(members: Mapping[str, Member]) -> MembershipChange:
            victim = rules.check_kick(members.get(uid), members.get(target), room.room_id)
            return MembershipChange(target, victim.role, MemberState.KICKED)

        return await self._append_member(
            room.room_id, uid, device, _member_body("kick", target), decide
        )

    async def set_role(self, uid: str, device: str, room_id: str, target: str, role: Role) -> Event:
        room = await self._room(room_id)
        parse_user_id(target)

        def decide(members: Mapping[str, Member]) -> MembershipChange:
            subject = rules.check_set_role(
                members.get(uid), members.get(target), role, room.room_id
            )
            return MembershipChange(target, role, subject.state)

        body = _member_body("role", target, role)
        return await self._append_member(room.room_id, uid, device, body, decide)

    async def send(
        self,
        uid: str,
        device: str,
        room_id: str,
        client_id: str,
        body: bytes,
        on_stored: Stored | None = None,
        *,
        welcomes: Sequence[Outgoing] = (),
    ) -> tuple[Event, bool]:
        """Store a message; ``on_stored`` runs after the commit and before the fan-out, so a
        sender's acknowledgement precedes its own copy of the event.

        ``welcomes`` (a commit's Welcomes to the devices it adds) go to their mailboxes in the
        message's transaction: both are stored, or neither (a stale commit, a retry)."""
        members = await self._members.members(room_id)
        header = self._admit(members.get(uid), room_id, body)
        if welcomes:
            await self._check_welcomes(room_id, header, welcomes)
        append = self._append(uid, device, room_id, client_id, body, header, welcomes)
        result = await self._settled(self._commits.submit(append), on_stored)
        await publish_mail(self._bus, append.mailed)
        return result

    async def submit(
        self,
        uid: str,
        device: str,
        room_id: str,
        client_id: str,
        body: bytes,
        on_stored: Stored,
        finished: Finished,
    ) -> None:
        """Check and queue a message for the next group commit without waiting for it: after
        the commit ``on_stored`` runs, then the publish, then ``finished`` (see ``Settler``).

        Messages submitted one after another are stored, acknowledged and published in that
        order. A message refused by the checks raises here, and neither callback runs."""
        # Every WebSocket send comes this way: with the room's members in memory it is
        # checked and queued without another coroutine.
        members = self._members.cached(room_id)
        if members is None:
            members = await self._members.members(room_id)
        header = self._admit(members.get(uid), room_id, body)
        append = self._append(uid, device, room_id, client_id, body, header)
        self._settler.add(self._commits.submit(append), on_stored, finished)

    def _admit(self, sender: Member | None, room_id: str, body: bytes) -> Header | None:
        """The header of a message ``sender`` may send, read when the room requires MLS."""
        rules.check_send(sender, room_id)
        return read_header(room_id, body) if self._require_mls else None

    def _append(
        self,
        uid: str,
        device: str,
        room_id: str,
        client_id: str,
        body: bytes,
        header: Header | None,
        welcomes: Sequence[Outgoing] = (),
    ) -> Append:
        now = now_ms(self._clock)
        event = self._new_event(room_id, uid, device, body, now, EventKind.MESSAGE, client_id)
        if not welcomes:
            # Nearly every message: no list of mails to build.
            return Append(event, mls=header)
        return Append(event, mls=header, welcomes=new_mails(uid, device, welcomes, now))

    async def _check_welcomes(
        self, room_id: str, header: Header | None, welcomes: Sequence[Outgoing]
    ) -> None:
        if header is not None:
            if not header.is_commit:
                raise BadRequest("welcomes are sent with the commit that adds their devices")
            for welcome in welcomes:
                check_welcome(welcome.body)
        if len({welcome.device_id for welcome in welcomes}) != len(welcomes):
            raise BadRequest("each device gets at most one welcome per commit")
        members = await self._members.members(room_id)
        for welcome in welcomes:
            if welcome.user_id not in members:
                raise NotMember(
                    f"{welcome.user_id[:80]} is neither invited to nor joined in {room_id}"
                )
        await require_devices(self._store, welcomes)

    async def _settled(
        self,
        committing: asyncio.Future[tuple[Event, bool]],
        on_stored: Stored | None = None,
        decided: list[MembershipChange] | None = None,
    ) -> tuple[Event, bool]:
        """Wait until the settler has acknowledged and published a submitted append."""
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settler.add(committing, on_stored, partial(resolve, outcome), decided)
        await outcome
        return committing.result()

    async def receipt(self, uid: str, device: str, room_id: str, seq: int) -> None:
        members = await self._members.members(room_id)
        rules.require_joined(members.get(uid), room_id)
        if await self._store.set_receipt(room_id, uid, seq):
            joined = tuple(m.user_id for m in members.values() if rules.is_joined(m))
            frame = receipt_frame(room_id, uid, seq)
            await self._bus.publish(Ephemeral(joined, frame, exclude_device=device))

    async def typing(self, uid: str, room_id: str, typing: bool) -> None:
        members = await self._members.members(room_id)
        rules.require_joined(members.get(uid), room_id)
        others = tuple(m for m, rec in members.items() if m != uid and rules.is_joined(rec))
        if others:
            await self._bus.publish(Ephemeral(others, typing_frame(room_id, uid, typing)))

    async def co_members(self, uid: str) -> set[str]:
        """Everyone sharing a joined room with ``uid`` (for presence)."""
        users: set[str] = set()
        for room in await self._store.list_rooms_for_user(uid):
            members = await self._members.members(room.room_id)
            if rules.is_joined(members.get(uid)):
                users.update(m for m, rec in members.items() if rules.is_joined(rec))
        users.discard(uid)
        return users

    # Internals --------------------------------------------------------------------------------

    async def _require_user(self, target: str) -> None:
        parse_user_id(target)
        user = await self._store.get_user(target)
        if user is None:
            raise NotFound(f"no user {target[:80]!r}")

    def _new_event(
        self,
        room_id: str,
        uid: str,
        device: str,
        body: bytes,
        ts: int,
        kind: EventKind = EventKind.MEMBER,
        client_id: str | None = None,
    ) -> NewEvent:
        # Positional, in the order of NewEvent's fields: a keyword call costs a third more, and
        # every message makes one.
        return NewEvent(
            room_id,
            new_event_id(),
            kind,
            uid,
            device,
            client_id or _member_client_id(),
            body,
            ts,
        )

    async def _append_member(
        self, room_id: str, uid: str, device: str, body: bytes, decide: MembershipRule
    ) -> Event:
        event = self._new_event(room_id, uid, device, body, now_ms(self._clock))
        decided: list[MembershipChange] = []

        def judged(members: Mapping[str, Member]) -> MembershipChange:
            decided.append(decide(members))
            return decided[-1]

        stored, _ = await self._settled(
            self._commits.submit(Append(event, judged)), decided=decided
        )
        return stored

    def _stored(self, event: Event, change: MembershipChange | None = None) -> Awaitable[None]:
        if event.kind is EventKind.MEMBER:
            self._members.invalidate(event.room_id)
        # The bus's own coroutine, not one more wrapped around it: the settler awaits this once
        # per stored event.
        return self._bus.publish(EventStored(event, change))
