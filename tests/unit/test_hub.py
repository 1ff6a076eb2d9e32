"""Fan-out rules of one node's hub: who receives what, decided without a socket or a database."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, cast

from aiohttp import web

from sottovoce.bus.base import DevicesRevoked, Ephemeral, EventStored, MailStored
from sottovoce.core.models import Event, EventKind, Mail, MembershipChange, MemberState, Role
from sottovoce.server.connection import (
    CLOSE_REVOKED,
    CLOSE_TOO_SLOW,
    MAX_QUEUE,
    Connection,
    Outbound,
    Outbox,
)
from sottovoce.server.hub import Hub

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"
JSON = dict[str, Any]


def conn(user: str, device: str = "D") -> Connection:
    # A response that is never prepared: pushes only fill the queue, which is what is checked.
    return Connection(web.WebSocketResponse(), f"@{user}:localhost", f"{user.upper()}{device}")


def event(seq: int, kind: EventKind = EventKind.MESSAGE) -> Event:
    return Event(ROOM, seq, f"$e{seq}", kind, "@alice:localhost", "ALICED", f"c{seq}", b"x", 1)


def member_event(seq: int, user: str, state: MemberState) -> EventStored:
    change = MembershipChange(f"@{user}:localhost", Role.MEMBER, state)
    return EventStored(event(seq, EventKind.MEMBER), change)


def received(c: Connection) -> list[int]:
    return [json.loads(item.frame)["event"]["seq"] for item in c.queued()]


def test_room_event_reaches_joined_connections_only_rendered_once() -> None:
    hub = Hub()
    alice, bob, outsider = conn("alice"), conn("bob"), conn("carol")
    hub.add(alice, [ROOM])
    hub.add(bob, [ROOM])
    hub.add(outsider, [])
    hub.on_notification(EventStored(event(5)))
    assert received(alice) == received(bob) == [5]
    assert alice.queued()[0] is bob.queued()[0]
    assert outsider.queued() == []


def test_invitee_hears_the_invite_but_not_the_room_until_joining() -> None:
    hub = Hub()
    bob = conn("bob")
    hub.add(bob, [])
    hub.on_notification(member_event(2, "bob", MemberState.INVITED))
    hub.on_notification(EventStored(event(3)))
    hub.on_notification(member_event(4, "bob", MemberState.JOINED))
    hub.on_notification(EventStored(event(5)))
    assert received(bob) == [2, 4, 5]


def test_kicked_member_hears_the_kick_and_nothing_after() -> None:
    hub = Hub()
    alice, bob = conn("alice"), conn("bob")
    hub.add(alice, [ROOM])
    hub.add(bob, [ROOM])
    hub.on_notification(member_event(6, "bob", MemberState.KICKED))
    hub.on_notification(EventStored(event(7)))
    assert received(bob) == [6]
    assert received(alice) == [6, 7]


def test_ephemeral_frames_skip_the_excluded_device_and_other_users() -> None:
    hub = Hub()
    phone, laptop, carol = conn("bob", "P"), conn("bob", "L"), conn("carol")
    for c in (phone, laptop, carol):
        hub.add(c, [ROOM])
    hub.on_notification(Ephemeral(("@bob:localhost",), b"{}", exclude_device=phone.device_id))
    assert (len(phone.queued()), len(laptop.queued()), len(carol.queued())) == (0, 1, 0)


def test_mail_goes_to_the_addressed_device_only() -> None:
    hub = Hub()
    phone, laptop = conn("bob", "P"), conn("bob", "L")
    hub.add(phone, [])
    hub.add(laptop, [])
    mail = Mail(1, phone.device_id, "@alice:localhost", "ALICED", "mls.welcome", b"w", 1)
    hub.on_notification(MailStored(phone.device_id, (mail,)))
    assert [item.mail_id for item in phone.queued()] == [1]
    assert laptop.queued() == []


def test_revocation_closes_that_device_and_drops_its_queue() -> None:
    hub = Hub()
    phone, laptop = conn("bob", "P"), conn("bob", "L")
    hub.add(phone, [ROOM])
    hub.add(laptop, [ROOM])
    hub.on_notification(EventStored(event(1)))
    hub.on_notification(DevicesRevoked((phone.device_id,)))
    assert phone.closing and phone.close_request is not None
    assert phone.close_request[0] == CLOSE_REVOKED
    assert phone.queued() == []
    assert not laptop.closing


def test_a_consumer_that_falls_too_far_behind_is_closed_4009() -> None:
    hub = Hub()
    slow = conn("bob")
    hub.add(slow, [ROOM])
    for seq in range(1, MAX_QUEUE + 1):
        hub.on_notification(EventStored(event(seq)))
    assert not slow.closing and len(slow.queued()) == MAX_QUEUE
    hub.on_notification(EventStored(event(MAX_QUEUE + 1)))
    assert slow.close_request is not None and slow.close_request[0] == CLOSE_TOO_SLOW
    assert slow.queued() == []


def test_removed_connection_receives_nothing() -> None:
    hub = Hub()
    bob = conn("bob")
    hub.add(bob, [ROOM])
    hub.remove(bob)
    hub.on_notification(EventStored(event(1)))
    assert bob.queued() == [] and len(hub) == 0


# Runs: a room's messages published in one pass of the event loop reach each member as one push,
# at the end of the pass, on a real socket.


class _Handler(asyncio.Protocol):
    """What a Connection reads of aiohttp's request handler: its transport and flow control."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.writing_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport


class _Request:
    def __init__(self, protocol: _Handler) -> None:
        self.protocol = protocol

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.protocol.transport


class Socketed:
    """A writing Connection on one end of a socket pair, the frames it wrote read at the other."""

    def __init__(self, user: str, outbox: Outbox) -> None:
        self.user = user
        self.outbox = outbox
        self.conn: Connection
        self._reader: asyncio.StreamReader

    async def __aenter__(self) -> Socketed:
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, handler = await loop.connect_accepted_socket(_Handler, ours)
        self._reader, self._writer = await asyncio.open_connection(sock=theirs)
        request = cast(web.BaseRequest, _Request(handler))
        self.conn = Connection(
            web.WebSocketResponse(), f"@{self.user}:localhost", "D", request, self.outbox
        )
        self.conn.start_writer()
        return self

    async def __aexit__(self, *_: object) -> None:
        transport = self.conn.request.transport if self.conn.request else None
        if transport is not None:
            transport.close()
        self._writer.close()

    async def frames(self, count: int) -> list[JSON]:
        """The next ``count`` text frames (unmasked, short: what the server writes here)."""
        frames = []
        async with asyncio.timeout(10):
            for _ in range(count):
                head = await self._reader.readexactly(2)
                assert head[0] == 0x81
                size = head[1]
                if size == 126:
                    size = int.from_bytes(await self._reader.readexactly(2))
                frames.append(json.loads(await self._reader.readexactly(size)))
        return frames


def seqs(frames: list[JSON]) -> list[int | str]:
    return [f["event"]["seq"] if f["type"] == "event" else f["type"] for f in frames]


async def test_a_run_of_a_rooms_messages_is_pushed_at_the_end_of_the_pass_in_order() -> None:
    hub, outbox = Hub(), Outbox()
    async with Socketed("alice", outbox) as alice, Socketed("bob", outbox) as bob:
        hub.add(alice.conn, [ROOM])
        hub.add(bob.conn, [ROOM])
        for seq in (1, 2, 3):
            hub.on_notification(EventStored(event(seq)))
        # Pushed directly (as a sender's ack is): it goes ahead of the run, not of later events.
        bob.conn.push(Outbound(b'{"type":"ack"}'))
        assert bob.conn.cursors == {}
        await asyncio.sleep(0)
        assert bob.conn.cursors == {ROOM: 3}
        hub.on_notification(EventStored(event(4)))
        assert seqs(await alice.frames(4)) == [1, 2, 3, 4]
        assert seqs(await bob.frames(5)) == ["ack", 1, 2, 3, 4]


async def test_anything_else_reaching_the_hub_pushes_the_run_before_it() -> None:
    hub, outbox = Hub(), Outbox()
    async with Socketed("bob", outbox) as bob, Socketed("carol", outbox) as carol:
        hub.add(bob.conn, [ROOM])
        hub.on_notification(EventStored(event(1)))
        hub.on_notification(Ephemeral(("@bob:localhost",), b'{"type":"typing"}'))
        hub.on_notification(EventStored(event(2)))
        # Carol, added now, gets what is published from now on (the rest by her replay).
        hub.add(carol.conn, [ROOM])
        hub.on_notification(EventStored(event(3)))
        hub.on_notification(member_event(4, "dave", MemberState.INVITED))
        hub.on_notification(EventStored(event(5)))
        hub.remove(carol.conn)
        hub.on_notification(EventStored(event(6)))
        await asyncio.sleep(0)
        assert seqs(await bob.frames(7)) == [1, "typing", 2, 3, 4, 5, 6]
        assert seqs(await carol.frames(3)) == [3, 4, 5]
        assert carol.conn.cursors == {ROOM: 5}


async def test_a_run_reaching_a_connection_that_has_part_of_it_delivers_the_rest_once() -> None:
    hub, outbox = Hub(), Outbox()
    async with Socketed("bob", outbox) as bob:
        hub.add(bob.conn, [ROOM])
        # As if its replay had sent up to 3 while 2 to 5 were being published.
        bob.conn.cursors[ROOM] = 3
        for seq in (2, 3, 4, 5):
            hub.on_notification(EventStored(event(seq)))
        await asyncio.sleep(0)
        for seq in (4, 5, 6):
            hub.on_notification(EventStored(event(seq)))
        await asyncio.sleep(0)
        assert seqs(await bob.frames(3)) == [4, 5, 6]
