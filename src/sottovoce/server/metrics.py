"""Prometheus metrics of one app, in its own registry (several apps may share a process).

The two that move with every message (events stored, send-to-ack latency) are plain counts turned
into samples only when scraped: ``prometheus_client``'s own take a lock per increment, ~0.6 µs for
the labelled counter and ~1 µs per histogram observation, where these are only ever touched from
the event loop's thread.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sottovoce.bus.base import EventStored, Notification
from sottovoce.core.models import EventKind

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Latency:
    """A histogram of seconds with fixed buckets, observed from one thread."""

    __slots__ = ("_counts", "sum")

    def __init__(self) -> None:
        # One count per bucket, the last one for +Inf; cumulated only when scraped.
        self._counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self._counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, observations at or below it)`` per bucket, ``+Inf`` last."""
        buckets, total = [], 0
        for bound, count in zip((*map(str, LATENCY_BUCKETS), "+Inf"), self._counts, strict=True):
            total += count
            buckets.append((bound, float(total)))
        return buckets


class _Tallies(Collector):
    def __init__(self, stored: dict[EventKind, int], latency: Latency) -> None:
        self._stored = stored
        self._latency = latency

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "sottovoce_events_stored", "Room events stored", labels=["kind"]
        )
        for kind, count in self._stored.items():
            events.add_metric([kind.value], count)
        yield events
        yield HistogramMetricFamily(
            "sottovoce_send_ack_seconds",
            "Time from receiving a send frame to queueing its ack",
            buckets=self._latency.cumulative(),
            sum_value=self._latency.sum,
        )


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.connections = Gauge(
            "sottovoce_connections",
            "Open authenticated WebSocket connections",
            registry=self.registry,
        )
        self._stored = dict.fromkeys(EventKind, 0)
        self.send_latency = Latency()
        self.registry.register(_Tallies(self._stored, self.send_latency))

    def on_notification(self, note: Notification) -> None:
        if isinstance(note, EventStored):
            self._stored[note.event.kind] += 1

    def render(self) -> bytes:
        return generate_latest(self.registry)
