"""The single-node bus: notifications go straight to this process's subscribers."""

from __future__ import annotations

from sottovoce.bus.base import Notification, Subscriber


class LocalBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    async def publish(self, note: Notification) -> None:
        for subscriber in self._subscribers:
            subscriber(note)

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def close(self) -> None:
        self._subscribers.clear()
