"""Prometheus metrics of one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sottovoce.bus.base import EventStored, Notification
from sottovoce.core.models import EventKind


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.connections = Gauge(
            "sottovoce_connections",
            "Open authenticated WebSocket connections",
            registry=self.registry,
        )
        self.events = Counter(
            "sottovoce_events_stored", "Room events stored", ["kind"], registry=self.registry
        )
        # Looking a labelled child up costs three times its increment, once per stored event.
        self._stored = {kind: self.events.labels(kind.value) for kind in EventKind}
        self.send_latency = Histogram(
            "sottovoce_send_ack_seconds",
            "Time from receiving a send frame to queueing its ack",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def on_notification(self, note: Notification) -> None:
        if isinstance(note, EventStored):
            self._stored[note.event.kind].inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
