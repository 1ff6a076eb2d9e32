"""Given the same randomness, a member produces the same secrets and the same bytes."""

from __future__ import annotations

import random
from collections.abc import Callable

from sottovoce.mls._group import Group
from sottovoce.mls._group_state import GroupConfig, accept_any_credential
from tests.mls.group_helpers import NOW, bundle


def _seeded(seed: int) -> Callable[[int], bytes]:
    rng = random.Random(seed)
    return rng.randbytes


def _config(seed: int) -> GroupConfig:
    return GroupConfig(accept_any_credential, clock=lambda: NOW, random_bytes=_seeded(seed))


def test_same_randomness_gives_the_same_group_and_ciphertexts() -> None:
    founder = bundle("alice")
    first = Group.create(b"g", founder, _config(7))
    second = Group.create(b"g", founder, _config(7))
    assert first.epoch_authenticator == second.epoch_authenticator
    assert first.encrypt(b"same") == second.encrypt(b"same")
    assert first.propose_update() == second.propose_update()


def test_different_randomness_gives_different_groups() -> None:
    founder = bundle("alice")
    first = Group.create(b"g", founder, _config(7))
    second = Group.create(b"g", founder, _config(8))
    assert first.epoch_authenticator != second.epoch_authenticator
