"""Leaving and revoking through a real server with real SDK clients: a member who leaves (by a
Remove proposal of its own devices, committed by the next member who sends) and a revoked device
(removed by its user's other device) read nothing sent afterwards, even with their old keys."""

from __future__ import annotations

import pytest

from sottovoce.client.e2ee import RoomCrypto, UndecryptableMessage
from sottovoce.core.errors import NotMember
from sottovoce.mls import CommitApplied, Group, MLSError
from tests.integration.harness import ServerProcess
from tests.integration.test_e2ee import (
    Factory,
    ciphertexts,
    devices,
    mls_server,
    room_with,
    texts,
    user_of,
)
from tests.integration.test_e2ee_linking import NewDevice, device_id, link, new_device

__all__ = ["devices", "mls_server", "new_device"]  # fixtures, imported for pytest


def users_in(device: RoomCrypto, room_id: str) -> set[str]:
    return {cert.user_id for cert in device.group_certificates(room_id).values()}


def cannot_read_after(
    keys: bytes, device: RoomCrypto, removal: bytes, later: bytes, proposal: bytes | None = None
) -> None:
    """The group state a departed device kept (``keys``) reads neither ``later`` as it is, nor
    after it processes the commit that removed it (and the ``proposal`` that commit refers to)."""
    stale = Group.from_bytes(keys, device._config)
    with pytest.raises(MLSError):
        stale.process(later)
    if proposal is not None:
        stale.process(proposal)
    applied = stale.process(removal)
    assert isinstance(applied, CommitApplied) and applied.removed_self
    with pytest.raises(MLSError):
        stale.process(later)


async def test_after_bob_leaves_bob_cannot_read_new_messages(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    await alice.send(room_id, b"before")
    assert await texts(bob, room_id) == [b"before"]
    kept = bob._group(room_id).to_bytes()  # what a departing device could keep
    seen = len(await ciphertexts(mls_server, alice, room_id))

    await bob.leave(room_id)
    with pytest.raises(UndecryptableMessage):
        await bob.seal(room_id, b"gone")
    # Alice commits Bob's pending removal before her message, so it is sealed without him.
    await alice.send(room_id, b"after bob left")
    assert await texts(carol, room_id) == [b"before", b"after bob left"]
    assert users_in(alice, room_id) == users_in(carol, room_id) == {user_of(alice), user_of(carol)}
    with pytest.raises(NotMember):
        await bob.sdk.history(room_id)

    proposal, removal, later = (await ciphertexts(mls_server, alice, room_id))[seen:]
    cannot_read_after(kept, bob, removal, later, proposal)


async def test_a_member_may_propose_removing_only_its_own_devices(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    await bob.catch_up(room_id)
    # Bob proposes Carol's removal: Alice refuses it and keeps nothing pending from it.
    group = bob._group(room_id)
    carols = [
        leaf
        for leaf, cert in bob.group_certificates(room_id).items()
        if cert.user_id == user_of(carol)
    ]
    proposal = group.propose_remove(carols[0])
    await bob.sdk.send(room_id, proposal, sealed=True)
    await alice.catch_up(room_id)
    assert len(alice.refused) == 1 and "ignored" in alice.refused[0]
    await alice.send(room_id, b"carol stays")
    assert (await texts(carol, room_id))[-1] == b"carol stays"


async def test_a_revoked_device_is_removed_from_every_group_and_reads_nothing_after(
    mls_server: ServerProcess, devices: Factory, new_device: NewDevice
) -> None:
    phone, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(phone, bob)
    laptop, client = await new_device(phone)
    assert await link(phone, laptop, client) == [room_id]
    await bob.send(room_id, b"to both devices")
    assert await texts(laptop, room_id) == [b"to both devices"]
    kept = laptop._group(room_id).to_bytes()
    seen = len(await ciphertexts(mls_server, phone, room_id))

    await phone.sdk.revoke_device(device_id(client))
    assert await phone.remove_device(device_id(client)) == [room_id]
    await bob.send(room_id, b"after the laptop was stolen")
    assert (await texts(phone, room_id))[-1] == b"after the laptop was stolen"
    devices_left = {c.device_id for c in bob.group_certificates(room_id).values()}
    assert device_id(client) not in devices_left

    removal, later = (await ciphertexts(mls_server, phone, room_id))[seen:]
    cannot_read_after(kept, laptop, removal, later)


async def test_a_device_that_signs_out_proposes_its_own_removal_and_reads_nothing_after(
    mls_server: ServerProcess, devices: Factory, new_device: NewDevice
) -> None:
    phone, bob = await devices(mls_server), await devices(mls_server)
    room_id = await room_with(phone, bob)
    laptop, client = await new_device(phone)
    await link(phone, laptop, client)
    kept = laptop._group(room_id).to_bytes()
    seen = len(await ciphertexts(mls_server, phone, room_id))

    assert await laptop.sign_out() == [room_id]
    await client.logout()
    await bob.send(room_id, b"after the laptop signed out")
    assert (await texts(phone, room_id))[-1] == b"after the laptop signed out"
    devices_left = {c.device_id for c in bob.group_certificates(room_id).values()}
    assert devices_left == {phone.device.certificate.device_id, bob.device.certificate.device_id}

    proposal, removal, later = (await ciphertexts(mls_server, phone, room_id))[seen:]
    cannot_read_after(kept, laptop, removal, later, proposal)
