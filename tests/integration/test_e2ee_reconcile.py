"""Server membership and MLS membership kept in step through a real server: a user who loses the
room without the MLS step (a plain kick, a plain leave) is removed from the group by the next
member who sends, and nobody accepts the removal of a user who is still a member."""

from __future__ import annotations

import pytest

from sottovoce.client.e2ee import RemovalRefused, RoomCrypto
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
from tests.integration.test_e2ee_leaving import cannot_read_after, users_in

__all__ = ["devices", "mls_server"]  # fixtures, imported for pytest


async def one_group(room_id: str, *members: RoomCrypto) -> None:
    """Every member caught up ends in one group: the same epoch authenticator everywhere."""
    for member in members:
        await member.catch_up(room_id)
    assert len({m._group(room_id).epoch_authenticator for m in members}) == 1


@pytest.mark.parametrize("departure", ["kicked", "left"])
async def test_a_user_gone_without_the_mls_step_is_removed_before_the_next_message(
    mls_server: ServerProcess, devices: Factory, departure: str
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    # Whoever sends next commits the removal; the other only reads.
    sender, reader = (alice, carol) if departure == "kicked" else (carol, alice)
    await sender.send(room_id, b"before")
    await bob.catch_up(room_id)
    kept = bob._group(room_id).to_bytes()
    seen = len(await ciphertexts(mls_server, alice, room_id))

    if departure == "kicked":
        await alice.sdk.kick(room_id, user_of(bob))  # the plain API: no commit
    else:
        await bob.sdk.leave(room_id)  # a client that is not E2EE-aware: no proposals
    await sender.send(room_id, b"after bob " + departure.encode())
    assert (await texts(reader, room_id))[-1] == b"after bob " + departure.encode()
    await one_group(room_id, alice, carol)
    assert users_in(alice, room_id) == users_in(carol, room_id) == {user_of(alice), user_of(carol)}
    assert alice.refused == carol.refused == []

    removal, later = (await ciphertexts(mls_server, alice, room_id))[seen:]
    cannot_read_after(kept, bob, removal, later)


async def test_a_member_invited_again_before_the_next_message_is_not_removed(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    await alice.sdk.kick(room_id, user_of(bob))
    await carol.sdk.invite(room_id, user_of(bob))
    await bob.sdk.join(room_id)

    await alice.send(room_id, b"bob is back")
    assert users_in(alice, room_id) == {user_of(alice), user_of(bob), user_of(carol)}
    assert (await texts(bob, room_id))[-1] == b"bob is back"
    await one_group(room_id, alice, bob, carol)


async def test_a_device_back_after_a_kick_and_a_new_invite_accepts_the_removal_in_between(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    # Carol is away while Bob is kicked (plain API), removed by Alice's next send, and invited
    # and added again: she reads kick, commit and invite on one page, and the commit is judged
    # by the membership at its place in the timeline, not by the room as it is now.
    await alice.sdk.kick(room_id, user_of(bob))
    await alice.send(room_id, b"while bob is out")
    await alice.invite(room_id, user_of(bob))
    assert await bob.accept_welcomes() == [room_id]
    await alice.send(room_id, b"bob is back")

    await carol.catch_up(room_id)
    await one_group(room_id, alice, bob, carol)
    assert (await texts(carol, room_id))[-2:] == [b"while bob is out", b"bob is back"]
    assert (await texts(bob, room_id))[-1] == b"bob is back"


async def test_members_refuse_the_removal_of_a_user_who_is_still_a_member(
    mls_server: ServerProcess, devices: Factory
) -> None:
    alice, bob, carol = [await devices(mls_server) for _ in range(3)]
    room_id = await room_with(alice, bob, carol)
    await bob.catch_up(room_id)
    # Bob removes Carol from the group by himself, while she is still joined on the server.
    carols = [
        leaf
        for leaf, cert in bob.group_certificates(room_id).items()
        if cert.user_id == user_of(carol)
    ]
    out = bob._group(room_id).commit(remove=carols)
    epoch = alice._group(room_id).epoch
    await bob.sdk.send(room_id, out.message, sealed=True)
    with pytest.raises(RemovalRefused):
        await alice.catch_up(room_id)
    assert alice._group(room_id).epoch == epoch
    assert user_of(carol) in users_in(alice, room_id)
