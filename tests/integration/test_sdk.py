"""The Python SDK against a real server process: accounts, rooms, idempotent sends, history, the
live stream across a kill -9 and restart, token refresh, revocation, mailbox and key directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from sottovoce.client import Session, SottoClient
from sottovoce.client.errors import ServerUnreachable
from sottovoce.client.records import LiveItem, Typing
from sottovoce.core.errors import DeviceRevoked, InvalidCredentials, NotMember
from sottovoce.core.models import Event, EventKind, Mail, Receipt
from tests.integration.conftest import running
from tests.integration.harness import (
    FRAME_TIMEOUT,
    PASSWORD,
    ServerProcess,
    http_session,
    random_name,
    sqlite_url,
)

# Transport tests: they store arbitrary bodies, so their servers allow plaintext.
pytestmark = pytest.mark.plaintext

Factory = Callable[..., Awaitable[SottoClient]]
# Expiry has one-second resolution: a shorter lifetime may leave a fresh token no time at all.
TOKEN_TTL = 3


@pytest.fixture
async def clients() -> AsyncIterator[Factory]:
    """``await clients(server, name=None, login=False)``: an SDK client from its own loopback
    address (the server limits sign-ups per address), registered or logged in; closed at exit."""
    async with AsyncExitStack() as stack:

        async def make(
            server: ServerProcess, name: str | None = None, *, login: bool = False
        ) -> SottoClient:
            http = await stack.enter_async_context(http_session())
            client = await stack.enter_async_context(SottoClient(server.base_url, http=http))
            if login:
                await client.login(name or "", PASSWORD)
            else:
                await client.register(name or random_name(), PASSWORD)
            return client

        yield make


async def next_items(stream: AsyncIterator[LiveItem], count: int) -> list[LiveItem]:
    async with asyncio.timeout(FRAME_TIMEOUT * 3):
        return [await anext(stream) for _ in range(count)]


async def messages(stream: AsyncIterator[LiveItem], count: int) -> list[Event]:
    """The next ``count`` message events of the stream, skipping anything else."""
    found: list[Event] = []
    async with asyncio.timeout(FRAME_TIMEOUT * 3):
        while len(found) < count:
            item = await anext(stream)
            if isinstance(item, Event) and item.kind is EventKind.MESSAGE:
                found.append(item)
    return found


def session_of(client: SottoClient) -> Session:
    assert client.session is not None
    return client.session


async def shared_room(owner: SottoClient, *guests: SottoClient) -> str:
    room = await owner.create_room("team", invite=[session_of(g).user_id for g in guests])
    for guest in guests:
        await guest.join(room.room_id)
    return room.room_id


async def test_two_people_talk_and_read_history(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(shared_server), await clients(shared_server)
    room_id = await shared_room(alice, bob)
    await alice.send(room_id, b"hello bob")
    await bob.send(room_id, "ciao alice ✓".encode())
    page = await bob.history(room_id)
    bodies = [e.body for e in page.events if e.kind is EventKind.MESSAGE]
    assert bodies == [b"hello bob", "ciao alice ✓".encode()]
    assert [e.seq for e in page.events] == list(range(1, len(page.events) + 1))


async def test_resending_with_the_same_client_id_stores_the_message_once(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice = await clients(shared_server)
    room_id = (await alice.create_room("solo")).room_id
    first = await alice.send(room_id, b"once", client_id="retry-me")
    again = await alice.send(room_id, b"once", client_id="retry-me")
    assert (again.event_id, again.seq, again.duplicate) == (first.event_id, first.seq, True)
    assert not first.duplicate
    page = await alice.history(room_id)
    assert [e.body for e in page.events if e.kind is EventKind.MESSAGE] == [b"once"]


async def test_history_pages_backwards_from_the_latest_event(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice = await clients(shared_server)
    room_id = (await alice.create_room("pages")).room_id
    for n in range(5):
        await alice.send(room_id, f"m{n}".encode())
    last_seq = (await alice.room(room_id)).last_seq
    latest = await alice.history(room_id, before=last_seq + 1, limit=2)
    assert [e.body for e in latest.events] == [b"m3", b"m4"]
    assert latest.cursor is not None
    earlier = await alice.history(room_id, before=latest.cursor, limit=2)
    assert [e.body for e in earlier.events] == [b"m1", b"m2"]


async def test_wrong_password_and_strangers_get_their_own_exceptions(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, mallory = await clients(shared_server), await clients(shared_server)
    room_id = (await alice.create_room("private")).room_id
    with pytest.raises(NotMember):
        await mallory.send(room_id, b"let me in")
    async with http_session() as http, SottoClient(shared_server.base_url, http=http) as stranger:
        with pytest.raises(InvalidCredentials):
            await stranger.login(session_of(alice).user_id, "not the password")


async def test_a_stopped_server_is_reported_as_unreachable(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", sqlite_url(tmp_path / "data"))
    async with SottoClient(proc.base_url, attempts=2) as client:
        with pytest.raises(ServerUnreachable):
            await client.login("alice", PASSWORD)


async def test_live_stream_survives_kill_and_restart_with_every_message_once_in_order(
    server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(server), await clients(server)
    room_id = await shared_room(alice, bob)
    stream = bob.events()
    first = asyncio.ensure_future(messages(stream, 2))
    await asyncio.sleep(0)
    # The stream connects lazily; wait until bob's connection is there before sending.
    await _until_connected(bob)
    for text in (b"before-1", b"before-2"):
        await alice.send(room_id, text)
    before = await first
    server.kill()
    server.start()
    # Sent while bob's stream is still reconnecting: it must come in the replay.
    for text in (b"after-1", b"after-2", b"after-3"):
        await alice.send(room_id, text)
    after = await messages(stream, 3)
    await stream.aclose()
    received = before + after
    assert [e.body for e in received] == [
        b"before-1",
        b"before-2",
        b"after-1",
        b"after-2",
        b"after-3",
    ]
    seqs = [e.seq for e in received]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


async def _until_connected(client: SottoClient) -> None:
    async with asyncio.timeout(FRAME_TIMEOUT):
        while not (client._live is not None and client._live.connected):
            await asyncio.sleep(0.02)


async def test_stream_resumes_from_a_given_cursor(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice = await clients(shared_server)
    room_id = (await alice.create_room("resume")).room_id
    for text in (b"a", b"b", b"c"):
        await alice.send(room_id, text)
    last_seq = (await alice.room(room_id)).last_seq
    stream = alice.events(since={room_id: last_seq - 2})
    replayed = await next_items(stream, 2)
    await stream.aclose()
    assert [(e.seq, e.body) for e in replayed if isinstance(e, Event)] == [
        (last_seq - 1, b"b"),
        (last_seq, b"c"),
    ]


async def test_messages_sent_while_only_invited_are_paged_in_before_the_join(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(shared_server), await clients(shared_server)
    stream = bob.events()
    invited = asyncio.ensure_future(next_items(stream, 1))
    await asyncio.sleep(0)
    await _until_connected(bob)
    room = await alice.create_room("later", invite=[session_of(bob).user_id])
    invite = (await invited)[0]
    assert isinstance(invite, Event) and invite.room_id == room.room_id
    await alice.send(room.room_id, b"while you were invited")
    await bob.join(room.room_id)
    await alice.send(room.room_id, b"welcome")
    seen = await messages(stream, 2)
    await stream.aclose()
    assert [e.body for e in seen] == [b"while you were invited", b"welcome"]
    assert seen[0].seq > invite.seq


async def test_sending_while_streaming_uses_the_live_connection_and_stays_idempotent(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice = await clients(shared_server)
    room_id = (await alice.create_room("ws")).room_id
    stream = alice.events()
    own = asyncio.ensure_future(messages(stream, 1))
    await asyncio.sleep(0)
    await _until_connected(alice)
    sent = await alice.send(room_id, b"over the socket", client_id="ws-1")
    again = await alice.send(room_id, b"over the socket", client_id="ws-1")
    echoed = (await own)[0]
    await stream.aclose()
    assert (echoed.event_id, echoed.body) == (sent.event_id, b"over the socket")
    # A first send reported as a duplicate would mean the ack was lost and HTTP retried it.
    assert not sent.duplicate
    assert again.duplicate and again.event_id == sent.event_id


async def test_typing_and_read_receipts_reach_the_other_member(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(shared_server), await clients(shared_server)
    room_id = await shared_room(alice, bob)
    sent = await alice.send(room_id, b"did you read this?")
    watching, reading = alice.events(), bob.events()
    notices = asyncio.ensure_future(_notices(watching, 2))
    bob_items = asyncio.ensure_future(next_items(reading, 1))
    await asyncio.sleep(0)
    await _until_connected(alice)
    await _until_connected(bob)
    assert await bob.typing(room_id, True)
    assert await bob.mark_read(room_id, sent.seq)
    typing, receipt = await notices
    await watching.aclose()
    bob_items.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await bob_items
    await reading.aclose()
    bob_id = session_of(bob).user_id
    assert typing == Typing(room_id, bob_id, True)
    assert receipt == Receipt(room_id, bob_id, sent.seq)


async def _notices(stream: AsyncIterator[LiveItem], count: int) -> list[LiveItem]:
    """The next ``count`` typing and receipt notices, skipping presence and events."""
    found: list[LiveItem] = []
    async with asyncio.timeout(FRAME_TIMEOUT * 3):
        while len(found) < count:
            item = await anext(stream)
            if isinstance(item, Typing | Receipt):
                found.append(item)
    return found


async def test_expired_access_tokens_are_refreshed_without_the_caller_noticing(
    tmp_path: Path, clients: Factory
) -> None:
    proc = ServerProcess(
        tmp_path / "data",
        sqlite_url(tmp_path / "data"),
        plaintext=True,
        extra_args=["--access-token-ttl", str(TOKEN_TTL)],
    )
    with running(proc):
        alice = await clients(proc)
        before = session_of(alice)
        await asyncio.sleep(TOKEN_TTL + 1.1)  # let the access token expire
        room = await alice.create_room("after expiry")
        after = session_of(alice)
        assert room.name == "after expiry"
        assert after.access_token != before.access_token
        assert after.refresh_token != before.refresh_token
        await asyncio.sleep(TOKEN_TTL + 1.1)
        stream = alice.events(since={room.room_id: 0})
        first = await next_items(stream, 1)
        await stream.aclose()
        assert isinstance(first[0], Event) and first[0].room_id == room.room_id


async def test_revoking_a_device_ends_its_live_stream(
    shared_server: ServerProcess, clients: Factory
) -> None:
    laptop = await clients(shared_server)
    phone = await clients(shared_server, session_of(laptop).user_id.split(":")[0][1:], login=True)
    stream = laptop.events()
    ended = asyncio.ensure_future(next_items(stream, 1))
    await asyncio.sleep(0)
    await _until_connected(laptop)
    await phone.revoke_device(session_of(laptop).device_id)
    with pytest.raises(DeviceRevoked):
        await ended


async def test_to_device_mail_arrives_live_and_stays_until_acknowledged(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(shared_server), await clients(shared_server)
    stream = bob.events()
    first = asyncio.ensure_future(next_items(stream, 1))
    await asyncio.sleep(0)
    await _until_connected(bob)
    target = (session_of(bob).user_id, session_of(bob).device_id)
    assert await alice.send_to_devices([(*target, "mls.welcome", b"\x00welcome")]) == 1
    mail = (await first)[0]
    await stream.aclose()
    assert isinstance(mail, Mail)
    assert (mail.sender, mail.kind, mail.body) == (
        session_of(alice).user_id,
        "mls.welcome",
        b"\x00welcome",
    )
    pending, _ = await bob.mailbox()
    assert [m.id for m in pending] == [mail.id]
    await bob.ack_mailbox(mail.id)
    assert (await bob.mailbox())[0] == []


async def test_key_packages_are_claimed_once_then_the_last_resort_is_handed_out(
    shared_server: ServerProcess, clients: Factory
) -> None:
    alice, bob = await clients(shared_server), await clients(shared_server)
    await bob.publish_device_keys(b"bob-identity")
    assert await bob.upload_key_packages([b"kp-1"], last_resort=b"kp-last") == 1
    assert await bob.key_package_count() == (1, True)
    bob_id, bob_device = session_of(bob).user_id, session_of(bob).device_id
    assert await alice.device_keys(bob_id) == {bob_device: b"bob-identity"}
    first = await alice.claim_key_packages(bob_id)
    second = await alice.claim_key_packages(bob_id)
    assert [(p.package, p.last_resort) for p in first] == [(b"kp-1", False)]
    assert [(p.package, p.last_resort) for p in second] == [(b"kp-last", True)]
