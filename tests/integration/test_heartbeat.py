"""WebSocket liveness: the server pings silent connections and closes those that stop answering,
and answers the client's own pings, before and after auth (a server with a 2 s heartbeat)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.integration.conftest import PersonFactory, running
from tests.integration.harness import JSON, ServerProcess, recv_close, recv_json, sqlite_url

HEARTBEAT = 2
CLOSE_NO_HEARTBEAT = 4010


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data: Path = tmp_path_factory.mktemp("heartbeat")
    proc = ServerProcess(data, sqlite_url(data), extra_args=["--ws-heartbeat", str(HEARTBEAT)])
    with running(proc):
        yield proc


async def authenticated(
    http: aiohttp.ClientSession, server: ServerProcess, token: str
) -> tuple[aiohttp.ClientWebSocketResponse, JSON]:
    """A connection that answers no ping unless the test does."""
    ws = await http.ws_connect(server.ws_url, autoping=False)
    await ws.send_json({"type": "auth", "token": token})
    return ws, await recv_json(ws)


async def test_a_connection_that_answers_pings_stays_open_through_silence(
    server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(server)
    ws, ready = await authenticated(person.http, server, person.token)
    assert ready["heartbeat"] == HEARTBEAT
    pings = 0
    loop = asyncio.get_running_loop()
    until = loop.time() + 3 * HEARTBEAT
    while (left := until - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        assert msg.type is aiohttp.WSMsgType.PING, msg
        pings += 1
        await ws.pong(msg.data)
    assert pings >= 1
    await ws.send_json({"type": "ping", "id": "still here"})
    while (msg := await ws.receive(timeout=5)).type is aiohttp.WSMsgType.PING:
        await ws.pong(msg.data)
    assert (msg.type, msg.json()) == (aiohttp.WSMsgType.TEXT, {"type": "pong", "id": "still here"})
    await ws.close()


async def test_a_connection_that_leaves_a_ping_unanswered_is_closed(
    server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(server)
    ws, _ = await authenticated(person.http, server, person.token)
    # Reads without answering the server's pings, as a peer gone without a close would.
    assert await recv_close(ws, timeout=5 * HEARTBEAT) == CLOSE_NO_HEARTBEAT


async def test_the_clients_pings_are_answered_before_and_after_auth(
    server: ServerProcess, people: PersonFactory
) -> None:
    person = await people(server)
    ws = await person.http.ws_connect(server.ws_url, autoping=False)
    await ws.ping(b"before auth")
    pong = await ws.receive(timeout=5)
    assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"before auth")
    await ws.send_json({"type": "auth", "token": person.token})
    assert (await recv_json(ws))["type"] == "ready"
    await ws.ping(b"x" * 125)
    pong = await ws.receive(timeout=5)
    assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"x" * 125)
    await ws.close()
