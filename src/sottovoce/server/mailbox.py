"""Store-and-forward mail between devices (key material such as MLS Welcome messages)."""

from __future__ import annotations

import time
from collections import defaultdict
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


class Mailbox:
    def __init__(self, store: Store, bus: Bus, clock: Clock = time.time) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def send(self, sender: str, sender_device: str, messages: list[Outgoing]) -> int:
        for message in messages:
            known = DEVICE_ID.fullmatch(message.device_id)
            device = await self._store.get_device(message.device_id) if known else None
            if device is None or device.revoked or device.user_id != message.user_id:
                raise NotFound(f"{message.user_id[:80]} has no device {message.device_id[:20]!r}")
        now = now_ms(self._clock)
        stored = await self._store.put_mail(
            [
                NewMail(m.user_id, m.device_id, sender, sender_device, m.kind, m.body, now)
                for m in messages
            ]
        )
        by_device: defaultdict[str, list[Mail]] = defaultdict(list)
        for mail in stored:
            by_device[mail.recipient_device].append(mail)
        for device_id, mails in by_device.items():
            await self._bus.publish(MailStored(device_id, tuple(mails)))
        return len(stored)

    async def after(self, device_id: str, after: int, limit: int) -> list[Mail]:
        return await self._store.mail_after(device_id, after, limit)

    async def ack(self, device_id: str, up_to: int) -> int:
        return await self._store.ack_mail(device_id, up_to)
