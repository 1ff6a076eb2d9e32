"""Fan-out rules of one node's hub: who receives what, decided without a socket or a database."""

from __future__ import annotations

import json

from aiohttp import web

from sottovoce.bus.base import DevicesRevoked, Ephemeral, EventStored, MailStored
from sottovoce.core.models import Event, EventKind, Mail, MembershipChange, MemberState, Role
from sottovoce.server.connection import CLOSE_REVOKED, CLOSE_TOO_SLOW, MAX_QUEUE, Connection
from sottovoce.server.hub import Hub

ROOM = "!aaaaaaaaaaaaaaaaaaaaaa:localhost"


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
