"""Secret tree rules beyond the vectors: single use, bounded windows, forward secrecy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._secret_tree import MAX_GENERATION, RatchetKind, SecretTree
from sottovoce.mls._suite import get_suite
from sottovoce.mls.errors import DecodeError, GenerationError, UnknownSender

SUITE = get_suite(1)
SECRET = bytes(range(32))
APP = RatchetKind.APPLICATION


def fresh(n_leaves: int = 4, **limits: int) -> SecretTree:
    return SecretTree.create(SUITE, SECRET, n_leaves, **limits)


def test_sender_and_receiver_derive_the_same_keys() -> None:
    sender, receiver = fresh(), fresh()
    for generation in range(3):
        sent, sender = sender.next_key(2, APP)
        received, receiver = receiver.key_for(2, APP, generation)
        assert sent == received
        assert sent.generation == generation


def test_a_generation_cannot_be_used_twice() -> None:
    _, tree = fresh().key_for(1, APP, 0)
    with pytest.raises(GenerationError, match="already used"):
        tree.key_for(1, APP, 0)


def test_a_skipped_generation_cannot_be_used_twice() -> None:
    _, tree = fresh().key_for(1, APP, 5)
    _, tree = tree.key_for(1, APP, 3)
    with pytest.raises(GenerationError):
        tree.key_for(1, APP, 3)


def test_late_message_inside_window_still_opens() -> None:
    tree = fresh(out_of_order_window=4)
    expected, _ = tree.key_for(1, APP, 6)
    _, tree = tree.key_for(1, APP, 10)
    late, _ = tree.key_for(1, APP, 6)
    assert late == expected


def test_late_message_outside_window_is_refused() -> None:
    _, tree = fresh(out_of_order_window=4).key_for(1, APP, 10)
    with pytest.raises(GenerationError, match="out-of-order window"):
        tree.key_for(1, APP, 5)


def test_generation_too_far_ahead_is_refused() -> None:
    tree = fresh(max_forward_distance=100)
    tree.key_for(0, APP, 100)
    with pytest.raises(GenerationError, match="ahead"):
        tree.key_for(0, APP, 101)


def test_generation_beyond_uint32_is_refused() -> None:
    with pytest.raises(GenerationError):
        fresh().key_for(0, APP, MAX_GENERATION + 1)


def test_leaf_outside_the_tree_is_an_unknown_sender() -> None:
    with pytest.raises(UnknownSender):
        fresh(n_leaves=4).key_for(4, APP, 0)


def test_tree_size_must_be_a_power_of_two() -> None:
    with pytest.raises(ValueError, match="power-of-two"):
        fresh(n_leaves=3)


def test_handshake_and_application_ratchets_are_independent() -> None:
    tree = fresh()
    app, tree = tree.key_for(3, APP, 0)
    handshake, tree = tree.key_for(3, RatchetKind.HANDSHAKE, 0)
    assert app.key != handshake.key
    with pytest.raises(GenerationError):
        tree.key_for(3, APP, 0)


def test_taking_a_key_leaves_the_original_tree_untouched() -> None:
    # A receiver that rejects the message keeps the old tree, so the generation stays usable.
    tree = fresh()
    first, _ = tree.key_for(1, APP, 0)
    again, _ = tree.key_for(1, APP, 0)
    assert first == again


def test_derived_tree_no_longer_holds_consumed_secrets() -> None:
    tree = fresh(n_leaves=4)
    _, after = tree.key_for(0, APP, 0)
    held = set(after._nodes.values())
    assert SECRET not in held
    # The sibling subtree secret stays, so the other leaves can still be derived.
    assert len(held) == 2
    for leaf in range(1, 4):
        after.key_for(leaf, APP, 0)


@given(st.permutations(range(12)))
def test_every_generation_in_window_opens_exactly_once_in_any_order(order: list[int]) -> None:
    reference = fresh(out_of_order_window=12)
    expected = {}
    for generation in range(12):
        expected[generation], reference = reference.key_for(0, APP, generation)
    tree = fresh(out_of_order_window=12)
    for generation in order:
        key, tree = tree.key_for(0, APP, generation)
        assert key == expected[generation]
    for generation in range(12):
        with pytest.raises(GenerationError):
            tree.key_for(0, APP, generation)


def test_saved_and_restored_tree_continues_where_it_left_off() -> None:
    tree = fresh(n_leaves=8, out_of_order_window=5, max_forward_distance=50)
    _, tree = tree.key_for(3, APP, 4)
    _, tree = tree.next_key(6, RatchetKind.HANDSHAKE)
    restored = decode_all(serialize(tree), SecretTree.decode)
    assert restored == tree
    late, _ = restored.key_for(3, APP, 2)
    assert late == tree.key_for(3, APP, 2)[0]
    with pytest.raises(GenerationError):
        restored.key_for(3, APP, 4)
    with pytest.raises(GenerationError, match="ahead"):
        restored.key_for(5, APP, 51)


def test_senders_across_the_tree_keep_their_own_ratchets_through_save_and_restore() -> None:
    # Ratchets are stored in buckets of leaves: senders far apart land in different buckets.
    senders = [0, 1, 63, 64, 65, 200, 255]
    tree = fresh(n_leaves=256)
    for round_ in range(2):
        for leaf in senders:
            key, tree = tree.key_for(leaf, APP, round_)
            alone, _ = fresh(n_leaves=256).key_for(leaf, APP, round_)
            assert key == alone
    restored = decode_all(serialize(tree), SecretTree.decode)
    assert restored == tree
    assert serialize(restored) == serialize(tree)
    for leaf in senders:
        assert restored.key_for(leaf, APP, 2)[0] == fresh(n_leaves=256).key_for(leaf, APP, 2)[0]
        with pytest.raises(GenerationError):
            restored.key_for(leaf, APP, 1)


def test_restoring_a_tree_with_a_node_outside_it_is_refused() -> None:
    state = bytearray(serialize(fresh(n_leaves=2)))
    # Shrink the recorded tree to one leaf, so its saved root (node 1) no longer fits.
    state[2:6] = (1).to_bytes(4, "big")
    with pytest.raises(DecodeError):
        decode_all(bytes(state), SecretTree.decode)
