"""The generator against the real relay process, over loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

pytest.importorskip("picows", reason="install the bench extra: pip install -e '.[bench]'")

from bench.fanout import opened, step_up_together
from bench.servers import ServerProcess, free_port, python_module
from bench.steps import Schedule
from bench.storm import reconnect_storm
from bench.targets import BenchRoom


# The same relay on picows (the ceiling), on aiohttp (bench/server_choice.py), and on picows
# committing each frame to SQLite first (the durable floor of the light scenario).
@pytest.fixture(params=["bench.relay", "bench.relay_aiohttp", "bench.relay_durable"])
async def relay(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, ServerProcess]]:
    port = free_port()
    server = ServerProcess(
        python_module(request.param, "--port", str(port)), tmp_path / "relay.log"
    )
    await server.start(port)
    try:
        yield f"ws://127.0.0.1:{port}", server
    finally:
        await server.stop()


@pytest.fixture
def relay_url(relay: tuple[str, ServerProcess]) -> str:
    return relay[0]


async def test_every_member_but_the_sender_gets_every_message(
    relay: tuple[str, ServerProcess],
) -> None:
    url, server = relay
    room = BenchRoom("five", f"{url}/five", [None] * 5, server.cpu_seconds)
    async with opened(room) as fanout:
        result = await fanout.step_at(deliveries_per_s=400, seconds=1.0)
        tally = fanout.tallies[fanout.step]
    assert tally.expected > 0
    assert tally.received == tally.expected
    assert (result.losses, result.errors) == (0, 0)
    assert result.server_cpu_us is not None
    assert server.cpu_seconds() > 0


async def test_a_member_that_vanished_shows_up_as_losses(relay_url: str) -> None:
    room = BenchRoom("gone", f"{relay_url}/gone", [None] * 12)
    async with opened(room) as fanout:
        silent = fanout.connections[-1]
        await silent.close()
        result = await fanout.step_at(deliveries_per_s=440, seconds=1.0)
    assert result.losses > 0


async def test_storm_clients_all_come_back(relay_url: str) -> None:
    room = BenchRoom("storm", f"{relay_url}/storm", [None])
    result = await reconnect_storm(room, [None] * 50, durable=False, limit_s=20)
    assert (result.clients, result.resumed) == (50, 50)
    assert result.losses is None


async def test_searches_side_by_side_take_their_steps_in_turn(
    relay_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rooms = {label: BenchRoom(label, f"{relay_url}/{label}", [None] * 3) for label in ("a", "b")}
    results = await step_up_together(rooms, Schedule(200, 800, seconds=0.3, max_steps=3))

    for label in rooms:
        assert [r.offered_per_s for r in results[label]] == [200, 400, 800]
        assert all(r.within for r in results[label])
    printed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == ["a", "b"] * 3
