"""An own pending commit survives ``to_bytes``/``from_bytes``, and the previous state format
(version 1, without one) is still read."""

from __future__ import annotations

import pytest

from sottovoce.mls._group import CommitApplied, Group
from sottovoce.mls._state_codec import STATE_VERSION
from sottovoce.mls.errors import DecodeError, ValidationError
from tests.mls.group_helpers import add_members, assert_same_epoch, bundle, config, new_group


def test_commit_persisted_before_acceptance_is_merged_after_restart() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    carol = bundle("carol")
    out = alice.commit(add=[carol.key_package])
    restarted = Group.from_bytes(alice.to_bytes(), config())
    assert restarted.epoch == alice.epoch
    applied = restarted.merge_pending_commit()
    assert applied.epoch == bob.epoch + 1
    assert applied.added == (2,)
    bob.process(out.message)
    assert out.welcome is not None
    joined = Group.join(out.welcome, carol, config())
    assert_same_epoch([restarted, bob, joined])


def test_restored_pending_commit_is_recognised_when_it_comes_back() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    out = alice.commit()
    restarted = Group.from_bytes(alice.to_bytes(), config())
    result = restarted.process(out.message)
    assert isinstance(result, CommitApplied)
    assert result.committer.index == restarted.own_leaf
    bob.process(out.message)
    assert_same_epoch([restarted, bob])


def test_discarded_pending_commit_is_not_persisted() -> None:
    alice = new_group()
    add_members(alice, [], ["bob"])
    alice.commit()
    alice.discard_pending_commit()
    restarted = Group.from_bytes(alice.to_bytes(), config())
    with pytest.raises(ValidationError):
        restarted.merge_pending_commit()


def test_pending_commit_state_round_trips_byte_identically() -> None:
    alice = new_group()
    add_members(alice, [], ["bob"])
    alice.commit(add=[bundle("carol").key_package])
    data = alice.to_bytes()
    assert Group.from_bytes(data, config()).to_bytes() == data


def test_version_1_state_is_still_read() -> None:
    alice = new_group()
    (bob,) = add_members(alice, [], ["bob"])
    current = alice.to_bytes()
    assert current[5] == STATE_VERSION == 2
    # Version 1 is version 2 without the trailing "no pending commit" byte.
    assert current[-1] == 0
    legacy = current[:5] + b"\x01" + current[6:-1]
    restored = Group.from_bytes(legacy, config())
    assert_same_epoch([restored, alice])
    bob.process(restored.encrypt(b"still works"))
    with pytest.raises(DecodeError):
        Group.from_bytes(legacy + b"\x00", config())


def _without_pending(group: Group) -> bytes:
    """The save of ``group``'s current state alone, minus its "no pending commit" byte."""
    return Group(group.state, config()).to_bytes()[:-1]


def test_pending_commit_of_another_epoch_is_refused() -> None:
    alice = new_group()
    add_members(alice, [], ["bob"])
    older_state = _without_pending(alice)
    alice.commit()
    alice.merge_pending_commit()
    alice.commit()
    saved = alice.to_bytes()
    later_pending = saved[len(_without_pending(alice)) :]
    with pytest.raises(DecodeError):
        Group.from_bytes(older_state + later_pending, config())
    assert Group.from_bytes(_without_pending(alice) + later_pending, config()).epoch == alice.epoch
