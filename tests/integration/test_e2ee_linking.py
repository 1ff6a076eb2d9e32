"""Device linking through a real server with real SDK clients: a user's new device receives the
identity key from an existing one (never a second key), joins every room of the user by external
commit, and from then on reads and is read by everyone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from sottovoce.client import SottoClient
from sottovoce.client.device_link import (
    LinkTimeout,
    approve_link,
    link_this_device,
    receive_identity,
)
from sottovoce.client.e2ee import DeviceNotLinked, ExternalJoinRefused, RoomCrypto
from sottovoce.client.e2ee_errors import LinkingError
from sottovoce.client.linking import LinkRequest
from sottovoce.core.errors import NotMember
from sottovoce.mls import Group, generate_key_package
from tests.integration.harness import PASSWORD, ServerProcess, http_session
from tests.integration.test_e2ee import (
    Factory,
    devices,
    localpart,
    mls_server,
    room_with,
    texts,
    user_of,
)

__all__ = ["devices", "mls_server"]  # fixtures, imported for pytest

NewDevice = Callable[[RoomCrypto], Awaitable[tuple[RoomCrypto, SottoClient]]]


@pytest.fixture
async def new_device() -> AsyncIterator[NewDevice]:
    """``await new_device(existing)``: the same user signed in on a new device, not linked."""
    async with AsyncExitStack() as stack:

        async def make(existing: RoomCrypto) -> tuple[RoomCrypto, SottoClient]:
            crypto = RoomCrypto()
            http = await stack.enter_async_context(http_session())
            client = await stack.enter_async_context(
                SottoClient(existing.sdk.base_url, http=http, codec=crypto)
            )
            await client.login(localpart(existing), PASSWORD)
            return crypto, client

        yield make


def device_id(client: SottoClient) -> str:
    session = client.session
    assert session is not None
    return session.device_id


async def link(existing: RoomCrypto, new: RoomCrypto, client: SottoClient) -> list[str]:
    """Link ``new`` (signed in through ``client``) from ``existing``: the rooms it joined."""
    request = LinkRequest.generate(device_id(client))
    await approve_link(existing, request.payload)
    return await link_this_device(new, client, request, within=30)


async def test_a_newly_linked_device_reads_every_message_sent_after_it_joined(
    mls_server: ServerProcess, devices: Factory, new_device: NewDevice
) -> None:
    phone, bob = await devices(mls_server), await devices(mls_server)
    team = await room_with(phone, bob)
    direct = await room_with(bob, phone)
    await bob.send(team, b"before the laptop")
    laptop, client = await new_device(phone)
    # The user already has an identity key: the new device must not make a second one.
    with pytest.raises(DeviceNotLinked):
        await laptop.start(client)
    assert sorted(await link(phone, laptop, client)) == sorted([team, direct])
    assert laptop.identity.public == phone.identity.public

    await bob.send(team, b"from bob")
    await phone.send(team, b"from the phone")
    await laptop.send(team, b"from the laptop")
    await laptop.send(direct, b"laptop to bob")
    after = [b"from bob", b"from the phone", b"from the laptop"]
    assert await texts(laptop, team) == after
    assert await texts(bob, team) == [b"before the laptop", *after]
    assert await texts(phone, team) == [b"before the laptop", *after]
    assert await texts(bob, direct) == [b"laptop to bob"]
    assert await texts(phone, direct) == [b"laptop to bob"]
    # Everyone ended in one group: the same epoch authenticator on every device.
    assert len({d._group(team).epoch_authenticator for d in (phone, bob, laptop)}) == 1


async def test_a_device_of_a_user_who_is_not_a_joined_member_cannot_join_by_itself(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, mallory = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob)
    # A GroupInfo that leaked to Mallory (the server publishes it only to members).
    info = alice._group(room_id).group_info()
    bundle = generate_key_package(
        mallory.device.certificate.to_bytes(), signature_priv=mallory.device.signature_private
    )
    await bob.learn(user_of(mallory))
    _, commit = Group.join_external(info, bundle, bob._config)
    epoch = bob._group(room_id).epoch
    with pytest.raises(ExternalJoinRefused):
        await bob.open(room_id, 1000, mallory.device.certificate.device_id, commit)
    assert bob._group(room_id).epoch == epoch
    # The server keeps her out of the timeline anyway.
    with pytest.raises(NotMember):
        await mallory.sdk.send(room_id, commit, sealed=True)


async def test_a_link_is_approved_only_for_a_device_of_the_same_account(
    mls_server: ServerProcess, devices: Factory, new_device: NewDevice
) -> None:
    alice, bob = await devices(mls_server), await devices(mls_server)
    _, client = await new_device(bob)
    request = LinkRequest.generate(device_id(client))
    # Alice is tricked into approving Bob's device: her identity key must not go to it.
    with pytest.raises(LinkingError, match="not signed in to"):
        await approve_link(alice, request.payload)
    with pytest.raises(LinkTimeout):
        await receive_identity(client, request, within=0.5)


async def test_a_sole_device_that_lost_its_keystore_starts_over_with_a_new_identity(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice = await devices(mls_server)
    # Same session, empty keystore: the directory's only certificate is this device's own, of a
    # key nobody holds any more, so there is nothing to link to.
    fresh = RoomCrypto()
    await fresh.start(alice.sdk)
    assert fresh.identity.public != alice.identity.public
