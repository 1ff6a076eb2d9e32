"""Store-and-forward mail between devices (key material such as MLS Welcome messages)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sottovoce.bus.base import Bus, MailStored
from sottovoce.core.errors import NotFound
from sottovoce.core.ids import DEVICE_ID
from sottovoce.core.models import Mail, NewMail
from sottovoce.server.clock import Clock, now_ms
from sottovoce.store.base import Store


@dataclass(frozen=True, slots=True)
class Outgoing:
    user_id: str
    device_id: str
    kind: str
    body: bytes


async def require_devices(store: Store, messages: Iterable[Outgoing]) -> None:
    """``NotFound`` unless every message names an active device of its user."""
    for message in messages:
        known = DEVICE_ID.fullmatch(message.device_id)
        device = await store.get_device(message.device_id) if known else None
        if device is None or device.revoked or device.user_id != message.user_id:
            raise NotFound(f"{message.user_id[:80]} has no device {message.device_id[:20]!r}")


def new_mails(
    sender: str, sender_device: str, messages: Sequence[Outgoing], now: int
) -> list[NewMail]:
    return [
        NewMail(m.user_id, m.device_id, sender, sender_device, m.kind, m.body, now)
        for m in messages
    ]


async def publish_mail(bus: Bus, stored: Iterable[Mail]) -> None:
    """Tell each recipient device's live connections about its new mail."""
    by_device: defaultdict[str, list[Mail]] = defaultdict(list)
    for mail in stored:
        by_device[mail.recipient_device].append(mail)
    for device_id, mails in by_device.items():
        await bus.publish(MailStored(device_id, tuple(mails)))


class Mailbox:
    def __init__(self, store: Store, bus: Bus, clock: Clock = time.time) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def send(self, sender: str, sender_device: str, messages: list[Outgoing]) -> int:
        await require_devices(self._store, messages)
        stored = await self._store.put_mail(
            new_mails(sender, sender_device, messages, now_ms(self._clock))
        )
        await publish_mail(self._bus, stored)
        return len(stored)

    async def after(self, device_id: str, after: int, limit: int) -> list[Mail]:
        return await self._store.mail_after(device_id, after, limit)

    async def ack(self, device_id: str, up_to: int) -> int:
        return await self._store.ack_mail(device_id, up_to)
