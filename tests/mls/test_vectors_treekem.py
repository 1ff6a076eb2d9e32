"""treekem.json: every member's private state matches the tree; each UpdatePath merges to the
expected tree hash and gives each member the expected path secret and commit secret; and a
fresh path created by each member is processed by every other member to the same secrets."""

from __future__ import annotations

import os
from typing import Any

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._suite import CipherSuite, get_suite
from sottovoce.mls._tree_structs import UpdatePath
from sottovoce.mls._treekem import (
    decrypt_update_path,
    encrypt_update_path,
    merge_update_path,
    node_key_pair,
    prepare_update_path,
)
from tests.mls.vectors import hexb, load, split_by_suite, summary

FILE = "treekem.json"


def _context(entry: dict[str, Any], tree_hash: bytes) -> bytes:
    return serialize(
        GroupContext(
            cipher_suite=entry["cipher_suite"],
            group_id=hexb(entry["group_id"]),
            epoch=entry["epoch"],
            tree_hash=tree_hash,
            confirmed_transcript_hash=hexb(entry["confirmed_transcript_hash"]),
        )
    )


def _private_keys(suite: CipherSuite, tree: RatchetTree, leaf: dict[str, Any]) -> dict[int, bytes]:
    """The member's keys by node, each checked against the public key in the tree."""
    keys = {tm.leaf_node(leaf["index"]): hexb(leaf["encryption_priv"])}
    for held in leaf["path_secrets"]:
        keys[held["node"]] = node_key_pair(suite, hexb(held["path_secret"]))[0]
    for x, private in keys.items():
        assert suite.public_key(private) == tree.encryption_key(x)
    return keys


def _check_vector_paths(
    suite: CipherSuite, entry: dict[str, Any], tree: RatchetTree, keys: dict[int, dict[int, bytes]]
) -> None:
    group_id = hexb(entry["group_id"])
    for case in entry["update_paths"]:
        sender = case["sender"]
        path = decode_all(hexb(case["update_path"]), UpdatePath.decode)
        merged = merge_update_path(tree, suite, sender, path, group_id=group_id)
        assert merged.tree_hash(suite) == hexb(case["tree_hash_after"])
        merged.verify_parent_hashes(suite)
        context = _context(entry, hexb(case["tree_hash_after"]))
        for receiver, expected in enumerate(case["path_secrets"]):
            if receiver == sender or receiver not in keys:
                assert expected is None
                continue
            got = decrypt_update_path(
                merged,
                suite,
                sender,
                path,
                receiver=receiver,
                private_keys=keys[receiver],
                group_context=context,
            )
            ancestor = tm.common_ancestor(tm.leaf_node(sender), tm.leaf_node(receiver))
            assert got.path_secrets[ancestor] == hexb(expected)
            assert got.commit_secret == hexb(case["commit_secret"])


def _check_fresh_paths(
    suite: CipherSuite,
    entry: dict[str, Any],
    tree: RatchetTree,
    keys: dict[int, dict[int, bytes]],
    signature_privs: dict[int, bytes],
) -> None:
    group_id = hexb(entry["group_id"])
    for sender, signature_priv in signature_privs.items():
        template = tree.leaf(sender)
        assert template is not None
        prepared = prepare_update_path(
            tree,
            suite,
            sender,
            template,
            signature_priv=signature_priv,
            group_id=group_id,
            leaf_secret=os.urandom(suite.hash_len),
            path_secret=os.urandom(suite.hash_len),
        )
        tree_hash = prepared.tree.tree_hash(suite)
        context = _context(entry, tree_hash)
        path = encrypt_update_path(prepared, suite, context)
        path = decode_all(serialize(path), UpdatePath.decode)
        for receiver in keys.keys() - {sender}:
            merged = merge_update_path(tree, suite, sender, path, group_id=group_id)
            assert merged == prepared.tree
            merged.verify_parent_hashes(suite)
            got = decrypt_update_path(
                merged,
                suite,
                sender,
                path,
                receiver=receiver,
                private_keys=keys[receiver],
                group_context=context,
            )
            assert got.commit_secret == prepared.secrets.commit_secret
            for x, secret in got.path_secrets.items():
                assert prepared.secrets.path_secrets[x] == secret


def test_treekem_vectors() -> None:
    ours, skipped = split_by_suite(load(FILE))
    suite = get_suite(1)
    paths = 0
    for entry in ours:
        tree = decode_all(hexb(entry["ratchet_tree"]), RatchetTree.decode)
        tree.verify_parent_hashes(suite)
        keys = {leaf["index"]: _private_keys(suite, tree, leaf) for leaf in entry["leaves_private"]}
        _check_vector_paths(suite, entry, tree, keys)
        signature_privs = {
            leaf["index"]: hexb(leaf["signature_priv"]) for leaf in entry["leaves_private"]
        }
        _check_fresh_paths(suite, entry, tree, keys, signature_privs)
        paths += len(entry["update_paths"])
    print(summary(FILE, len(ours), skipped) + f" [{paths} update paths]")
