"""The ``Bus`` seam: fan-out of notifications to every node's gateway.

A node publishes after the store has committed; every node (itself included) hands each
notification to its subscribers, which push to local connections. Notifications are plain values
so that a network bus (Redis) can serialize them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sottovoce.core.models import Event, Mail, MembershipChange


@dataclass(frozen=True, slots=True)
class EventStored:
    """A room event was committed; ``change`` is the membership it applied, for member events."""

    event: Event
    change: MembershipChange | None = None


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """An already rendered typing, receipt or presence frame for the given users' connections."""

    recipients: tuple[str, ...]
    frame: bytes
    exclude_device: str | None = None


@dataclass(frozen=True, slots=True)
class MailStored:
    device_id: str
    mails: tuple[Mail, ...]


@dataclass(frozen=True, slots=True)
class DevicesRevoked:
    device_ids: tuple[str, ...]


Notification = EventStored | Ephemeral | MailStored | DevicesRevoked
Subscriber = Callable[[Notification], None]


class Bus(Protocol):
    async def publish(self, note: Notification) -> None:
        """Deliver ``note`` to the subscribers of every node, this one included."""

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call ``subscriber`` for each notification; it must not block."""

    async def close(self) -> None: ...
