"""A group saved to bytes and restored behaves as the original, and refuses replays."""

from __future__ import annotations

import pytest

from sottovoce.mls._group import ApplicationMessage, Group
from sottovoce.mls.errors import DecodeError, GenerationError
from tests.mls.group_helpers import add_members, assert_same_epoch, config, new_group


def test_restored_group_keeps_reading_and_committing() -> None:
    alice = new_group()
    bob, carol = add_members(alice, [], ["bob", "carol"])
    proposal = carol.propose_update()
    bob.process(proposal)
    restored = Group.from_bytes(bob.to_bytes(), config())
    alice.process(proposal)
    assert restored.epoch_authenticator == bob.epoch_authenticator
    out = restored.commit()
    restored.merge_pending_commit()
    alice.process(out.message)
    carol.process(out.message)
    assert_same_epoch([alice, restored, carol])


def test_restored_group_still_refuses_a_consumed_generation() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    message = alice.encrypt(b"once")
    assert bob.process(message) == ApplicationMessage(alice.own_leaf, b"once", b"")
    restored = Group.from_bytes(bob.to_bytes(), config())
    with pytest.raises(GenerationError):
        restored.process(message)


def test_saved_state_round_trips_byte_identically() -> None:
    alice = new_group()
    add_members(alice, [], ["bob"])
    data = alice.to_bytes()
    assert Group.from_bytes(data, config()).to_bytes() == data


@pytest.mark.parametrize("cut", [0, 5, 6, 40])
def test_truncated_or_foreign_state_is_refused(cut: int) -> None:
    data = new_group().to_bytes()
    with pytest.raises(DecodeError):
        Group.from_bytes(data[:cut], config())
    with pytest.raises(DecodeError):
        Group.from_bytes(b"XXXXX" + data[5:], config())
