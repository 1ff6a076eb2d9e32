"""secret-tree.json: sender data keys, and both ratchets per leaf and generation."""

from __future__ import annotations

from typing import Any

from sottovoce.mls._key_schedule import sender_data_key_and_nonce
from sottovoce.mls._secret_tree import RatchetKind, SecretTree
from sottovoce.mls._suite import CipherSuite, get_suite

from .vectors import hexb, load, split_by_suite, summary

FILE = "secret-tree.json"


def check_case(suite: CipherSuite, case: dict[str, Any]) -> None:
    sender_data = case["sender_data"]
    key, nonce = sender_data_key_and_nonce(
        suite, hexb(sender_data["sender_data_secret"]), hexb(sender_data["ciphertext"])
    )
    assert (key, nonce) == (hexb(sender_data["key"]), hexb(sender_data["nonce"])), "sender data"

    leaves = case["leaves"]
    tree = SecretTree.create(suite, hexb(case["encryption_secret"]), len(leaves))
    for leaf, entries in enumerate(leaves):
        for entry in entries:
            generation = entry["generation"]
            for kind, name in (
                (RatchetKind.HANDSHAKE, "handshake"),
                (RatchetKind.APPLICATION, "application"),
            ):
                got, tree = tree.key_for(leaf, kind, generation)
                where = f"leaf {leaf} generation {generation} {name}"
                assert got.generation == generation, where
                assert got.key == hexb(entry[f"{name}_key"]), f"{where} key"
                assert got.nonce == hexb(entry[f"{name}_nonce"]), f"{where} nonce"


def test_secret_tree_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    for case in cases:
        check_case(get_suite(case["cipher_suite"]), case)
    print(summary(FILE, len(cases), skipped))
