"""End-to-end encryption through a real server that enforces the Delivery Service rules
(its default), with real SDK clients: rooms are MLS groups, the server sees only ciphertext."""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import pytest

from sottovoce.client import SottoClient
from sottovoce.client.e2ee import (
    KEY_PACKAGE_BATCH,
    KEY_PACKAGE_LOW,
    ReplayedMessage,
    RoomCrypto,
    UndecryptableMessage,
)
from sottovoce.client.e2ee_store import CryptoRecords
from sottovoce.client.identity import IdentityKeyPair
from sottovoce.client.keysources import KeyFileKey
from sottovoce.client.keystore import Keystore
from sottovoce.client.trust import TrustStatus
from sottovoce.core.errors import BadRequest, StaleEpoch
from sottovoce.core.models import Event, EventKind
from tests.integration.conftest import running
from tests.integration.harness import (
    PASSWORD,
    ServerProcess,
    call,
    http_session,
    random_name,
    sqlite_url,
)


@pytest.fixture(scope="module")
def mls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("e2ee") / "data"
    with running(ServerProcess(data, sqlite_url(data))) as server:
        yield server


Factory = Callable[..., Awaitable[RoomCrypto]]


@pytest.fixture
async def devices() -> AsyncIterator[Factory]:
    """``await devices(server, name=None, identity=None)``: a signed-in device with E2EE started;
    a ``name`` with ``identity`` logs in as another device of that user."""
    async with AsyncExitStack() as stack:

        async def make(
            server: ServerProcess,
            name: str | None = None,
            identity: IdentityKeyPair | None = None,
        ) -> RoomCrypto:
            crypto = RoomCrypto(identity or IdentityKeyPair.generate())
            http = await stack.enter_async_context(http_session())
            client = await stack.enter_async_context(
                SottoClient(server.base_url, http=http, codec=crypto)
            )
            if identity is None:
                await client.register(name or random_name(), PASSWORD)
            else:
                await client.login(name or "", PASSWORD)
            await crypto.start(client)
            return crypto

        yield make


def user_of(device: RoomCrypto) -> str:
    session = device.sdk.session
    assert session is not None
    return session.user_id


def status(device: RoomCrypto, user_id: str) -> TrustStatus | None:
    record = device.trust.record(user_id)
    return None if record is None else record.status


def localpart(device: RoomCrypto) -> str:
    return user_of(device)[1:].split(":")[0]


async def texts(device: RoomCrypto, room_id: str) -> list[bytes]:
    """Every message of the room this device can read, decrypted, in order."""
    events: list[Event] = []
    cursor = 0
    while True:
        page = await device.sdk.history(room_id, after=cursor, limit=500)
        if not page.events:
            break
        events.extend(page.events)
        cursor = page.events[-1].seq
    return [e.body for e in events if e.kind is EventKind.MESSAGE and e.body]


async def room_with(owner: RoomCrypto, *others: RoomCrypto) -> str:
    room_id = await owner.create_room("e2ee")
    for other in others:
        await owner.invite(room_id, user_of(other))
        assert await other.accept_welcomes() == [room_id]
    return room_id


async def test_two_users_read_each_others_encrypted_messages(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(alice, bob)
    await alice.send(room_id, b"hello bob")
    await bob.catch_up(room_id)
    await bob.send(room_id, b"hello alice")
    assert await texts(bob, room_id) == [b"hello bob", b"hello alice"]
    assert await texts(alice, room_id) == [b"hello bob", b"hello alice"]


async def test_the_server_refuses_plaintext_bodies(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice = await devices(mls_server)
    room_id = await alice.create_room()
    with pytest.raises(BadRequest):
        await alice.sdk.send(room_id, b"not encrypted", sealed=True)


async def test_only_the_first_commit_of_an_epoch_is_accepted(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(alice, bob)
    group_a, group_b = alice._group(room_id), bob._group(room_id)
    first, second = group_a.commit(), group_b.commit()
    await alice.sdk.send(room_id, first.message, sealed=True)
    with pytest.raises(StaleEpoch) as refused:
        await bob.sdk.send(room_id, second.message, sealed=True)
    assert refused.value.extra["epoch"] == group_a.epoch + 1


async def test_members_committing_at_once_end_in_one_group_without_a_fork(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol, dave = [await devices(mls_server) for _ in range(4)]
    room_id = await room_with(alice, bob)
    await bob.catch_up(room_id)
    # Both add someone from the same epoch: one commit wins, the other re-bases and retries.
    await asyncio.gather(alice.invite(room_id, user_of(carol)), bob.invite(room_id, user_of(dave)))
    assert await carol.accept_welcomes() == [room_id]
    assert await dave.accept_welcomes() == [room_id]
    everyone = (alice, bob, carol, dave)
    for device in everyone:
        await device.catch_up(room_id)
    authenticators = {d._group(room_id).epoch_authenticator for d in everyone}
    assert len(authenticators) == 1
    await dave.send(room_id, b"all in one group")
    for device in everyone:
        assert (await texts(device, room_id))[-1] == b"all in one group"


async def test_three_users_with_two_devices_each_share_one_group(
    mls_server: ServerProcess, devices: Factory
) -> None:
    firsts = [await devices(mls_server) for _ in range(3)]
    seconds = [await devices(mls_server, localpart(d), d._identity) for d in firsts]
    owner = firsts[0]
    room_id = await owner.create_room("six devices")
    # The owner's own second device is welcomed by an Add of the owner's devices.
    await owner.add_devices(room_id, user_of(owner))
    for first in firsts[1:]:
        await owner.invite(room_id, user_of(first))
    for device in [*firsts[1:], *seconds]:
        assert await device.accept_welcomes() == [room_id]
    everyone = [*firsts, *seconds]
    for i, device in enumerate(everyone):
        await device.catch_up(room_id)
        await device.send(room_id, f"from device {i}".encode())
    expected = [f"from device {i}".encode() for i in range(len(everyone))]
    for device in everyone:
        assert await texts(device, room_id) == expected


async def test_a_removed_member_cannot_decrypt_later_messages(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    await alice.send(room_id, b"before")
    assert await texts(carol, room_id) == [b"before"]
    seen = len(await ciphertexts(mls_server, alice, room_id))
    await alice.remove(room_id, user_of(carol))
    await alice.send(room_id, b"after carol left")
    assert (await texts(bob, room_id))[-1] == b"after carol left"
    # Carol is kicked on the server too; the ciphertexts are what a leaky server could give her.
    removal, after = (await ciphertexts(mls_server, alice, room_id))[seen:]
    with pytest.raises(UndecryptableMessage):
        await carol.open(room_id, 1001, "", after)
    assert await carol.open(room_id, 1000, "", removal) == b""
    with pytest.raises(UndecryptableMessage):
        await carol.open(room_id, 1001, "", after)


async def ciphertexts(server: ServerProcess, device: RoomCrypto, room_id: str) -> list[bytes]:
    """The stored bodies of the room's messages, as the server answers them over HTTP."""
    session = device.sdk.session
    assert session is not None
    async with http_session() as http:
        reply = await call(
            http,
            "GET",
            f"{server.api_url}/rooms/{room_id}/events?after=0&limit=500",
            token=session.access_token,
        )
    events = reply.expect(200)["events"]
    return [base64.b64decode(e["body"]) for e in events if e["kind"] == "message"]


async def test_a_device_offline_during_messages_reads_them_when_back(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob)
    # Bob is away while Carol joins (a new epoch) and messages arrive in two epochs.
    await alice.send(room_id, b"one")
    await alice.invite(room_id, user_of(carol))
    assert await carol.accept_welcomes() == [room_id]
    await carol.send(room_id, b"two")
    assert await texts(bob, room_id) == [b"one", b"two"]


async def test_no_message_text_reaches_the_server(
    mls_server: ServerProcess, devices: Factory
) -> None:
    canary = f"canary-{secrets.token_hex(8)}".encode()
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    for i, device in enumerate((alice, bob, carol, alice)):
        await device.catch_up(room_id)
        await device.send(room_id, canary + f" message {i}".encode())
    assert [canary in t for t in await texts(carol, room_id)] == [True] * 4
    for body in await ciphertexts(mls_server, bob, room_id):
        assert canary not in body
    stored = b"".join(
        path.read_bytes() for path in Path(mls_server.data_dir).iterdir() if path.is_file()
    )
    assert canary not in stored
    assert canary.decode() not in mls_server.log_text()


async def test_a_contacts_changed_identity_key_raises_the_warning(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(alice, bob)
    bob_id, bob_name = user_of(bob), localpart(bob)
    old_key = bob.trust.identity_key(bob_id)
    # Bob's only device is gone and a device with another identity key signs in as Bob: what a
    # server substituting keys would look like to Alice.
    await bob.sdk.logout()
    impostor = await devices(mls_server, bob_name, IdentityKeyPair.generate())
    assert alice.trust.warnings() == []
    await alice.add_devices(room_id, bob_id)
    [warning] = alice.trust.warnings()
    assert (warning.user_id, warning.old_key) == (bob_id, old_key)
    assert warning.new_key == impostor.trust.identity_key(bob_id)
    assert status(alice, bob_id) is TrustStatus.CHANGED


async def test_verified_contacts_share_one_safety_number_and_show_as_verified(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    number_at_alice, bobs_key = await alice.safety_number(user_of(bob))
    number_at_bob, _ = await bob.safety_number(user_of(alice))
    assert number_at_alice == number_at_bob
    assert status(alice, user_of(bob)) is TrustStatus.UNVERIFIED
    alice.trust.mark_verified(user_of(bob), bobs_key)
    assert status(alice, user_of(bob)) is TrustStatus.VERIFIED


async def test_no_message_text_reaches_postgresql(
    devices: Factory, tmp_path: Path, postgres_url: str
) -> None:
    canary = f"canary-{secrets.token_hex(8)}".encode()
    with running(ServerProcess(tmp_path / "data", postgres_url)) as server:
        alice, bob = await devices(server), await devices(server)
        room_id = await room_with(alice, bob)
        await alice.send(room_id, canary + b" from alice")
        await bob.catch_up(room_id)
        await bob.send(room_id, canary + b" from bob")
        assert await texts(alice, room_id) == [canary + b" from alice", canary + b" from bob"]
        assert canary.decode() not in server.log_text()
    dump = await postgres_dump(postgres_url.replace("postgresql+asyncpg", "postgresql"))
    assert b"room_groups" in dump  # the dump did read the schema's tables
    assert canary not in dump
    assert canary.hex().encode() not in dump


async def postgres_dump(url: str) -> bytes:
    """Every row of every table, as bytes (bytea values raw, the rest as text)."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        parts: list[bytes] = []
        for (table,) in tables:
            parts.append(table.encode())
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                for value in row.values():
                    parts.append(value if isinstance(value, bytes) else str(value).encode())
        return b"\n".join(parts)
    finally:
        await conn.close()


async def test_a_restarted_device_keeps_its_groups_and_what_it_read(
    mls_server: ServerProcess, devices: Factory, tmp_path: Path
) -> None:
    key = KeyFileKey(tmp_path / "store.key")
    identity = IdentityKeyPair.generate()
    alice_store = Keystore.create(tmp_path / "alice.db", key)
    alice = RoomCrypto(identity, alice_store)
    async with (
        http_session() as http,
        SottoClient(mls_server.base_url, http=http, codec=alice) as sdk,
    ):
        session = await sdk.register(random_name(), PASSWORD)
        await alice.start(sdk)
        bob = await devices(mls_server)
        room_id = await room_with(alice, bob)
        sent = await alice.send(room_id, b"before the restart")
        await bob.catch_up(room_id)
        await bob.send(room_id, b"read before the restart")
        assert await texts(alice, room_id) == [b"before the restart", b"read before the restart"]
    # Everything before her message was processed first, and where that ended is kept, so the
    # restarted device does not page through the room's whole history again.
    assert CryptoRecords(alice_store).load_cursors() == {room_id: sent.seq - 1}
    alice_store.close()
    await bob.send(room_id, b"sent while alice was down")

    reopened = Keystore.open(tmp_path / "alice.db", key)
    again = RoomCrypto(identity, reopened)
    async with (
        http_session() as http,
        SottoClient(mls_server.base_url, session, http=http, codec=again) as sdk,
    ):
        await again.start(sdk)
        assert await texts(again, room_id) == [
            b"before the restart",
            b"read before the restart",
            b"sent while alice was down",
        ]
        await again.send(room_id, b"back")
    reopened.close()
    assert (await texts(bob, room_id))[-1] == b"back"


async def test_tampered_misattributed_reordered_and_replayed_messages_from_a_hostile_server(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(alice, bob)
    await bob.catch_up(room_id)
    sender = alice.device.certificate.device_id
    # Bodies and seqs as a hostile server could hand them to Bob, never stored by the real one.
    genuine = await alice.seal(room_id, b"genuine")
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 1])
    with pytest.raises(UndecryptableMessage):
        await bob.open(room_id, 1000, sender, tampered)
    with pytest.raises(UndecryptableMessage, match="not by"):
        await bob.open(room_id, 1000, bob.device.certificate.device_id, genuine)
    first, second = await alice.seal(room_id, b"first"), await alice.seal(room_id, b"second")
    assert await bob.open(room_id, 1002, sender, second) == b"second"
    assert await bob.open(room_id, 1001, sender, first) == b"first"
    # Read again at its own place (history paged twice) it is the same message; handed out
    # again at another place it is a replay, and not shown twice.
    assert await bob.open(room_id, 1001, sender, first) == b"first"
    with pytest.raises(ReplayedMessage):
        await bob.open(room_id, 1003, sender, first)
    # Alice's own message read back binds it to its place too.
    assert await alice.open(room_id, 1002, sender, second) == b"second"
    with pytest.raises(ReplayedMessage):
        await alice.open(room_id, 1004, sender, second)


async def test_a_device_tops_up_its_key_packages_when_few_are_left(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    for _ in range(KEY_PACKAGE_BATCH - KEY_PACKAGE_LOW + 1):
        await alice.sdk.claim_key_packages(user_of(bob))
    left, _ = await bob.sdk.key_package_count()
    assert left < KEY_PACKAGE_LOW
    await bob.top_up()
    assert await bob.sdk.key_package_count() == (left + KEY_PACKAGE_BATCH, True)
