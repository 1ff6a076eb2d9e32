"""What /metrics exposes of the counts kept per message (plain counts rendered when scraped)."""

from __future__ import annotations

import re

from sottovoce.bus.base import EventStored
from sottovoce.core.models import Event, EventKind
from sottovoce.server.metrics import Metrics


def samples(metrics: Metrics) -> dict[str, float]:
    text = metrics.render().decode()
    return {
        name: float(value)
        for name, value in re.findall(r"^(sottovoce_\S+) (\S+)$", text, flags=re.MULTILINE)
    }


def stored(kind: EventKind) -> EventStored:
    return EventStored(Event("!r:localhost", 1, "$e", kind, "@a:localhost", "D", "c", b"x", 1))


def test_stored_events_are_counted_per_kind_every_kind_shown() -> None:
    metrics = Metrics()
    assert samples(metrics)['sottovoce_events_stored_total{kind="message"}'] == 0
    for kind in (EventKind.MESSAGE, EventKind.MESSAGE, EventKind.MEMBER):
        metrics.on_notification(stored(kind))
    seen = samples(metrics)
    assert seen['sottovoce_events_stored_total{kind="message"}'] == 2
    assert seen['sottovoce_events_stored_total{kind="member"}'] == 1


def test_ack_latency_buckets_are_cumulative_and_a_bound_counts_in_its_own_bucket() -> None:
    metrics = Metrics()
    for seconds in (0.0004, 0.001, 0.003, 0.7, 9.0):
        metrics.send_latency.observe(seconds)
    seen = samples(metrics)
    bucket = 'sottovoce_send_ack_seconds_bucket{le="%s"}'
    assert seen[bucket % "0.001"] == 2
    assert seen[bucket % "0.0025"] == 2
    assert seen[bucket % "0.005"] == 3
    assert seen[bucket % "0.5"] == 3
    assert seen[bucket % "1.0"] == 4
    assert seen[bucket % "2.5"] == 4
    assert seen[bucket % "+Inf"] == 5
    assert seen["sottovoce_send_ack_seconds_count"] == 5
    assert abs(seen["sottovoce_send_ack_seconds_sum"] - 9.7044) < 1e-9
