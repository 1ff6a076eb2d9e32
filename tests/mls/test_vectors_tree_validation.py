"""tree-validation.json: per-node tree hashes, resolutions, parent hashes and leaf signatures."""

from __future__ import annotations

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._ratchet_tree import RatchetTree, validate_tree
from sottovoce.mls._suite import get_suite
from tests.mls.vectors import hexb, load, split_by_suite, summary

FILE = "tree-validation.json"


def test_tree_validation_vectors() -> None:
    ours, skipped = split_by_suite(load(FILE))
    suite = get_suite(1)
    for entry in ours:
        tree = decode_all(hexb(entry["tree"]), RatchetTree.decode)
        assert serialize(tree) == hexb(entry["tree"])
        assert [h.hex() for h in tree.node_hashes(suite)] == entry["tree_hashes"]
        assert tree.tree_hash(suite).hex() == entry["tree_hashes"][tree.root]
        assert [tree.resolution(x) for x in range(len(tree.nodes))] == entry["resolutions"]
        tree.verify_parent_hashes(suite)
        group_id = hexb(entry["group_id"])
        for index, leaf in tree.members():
            assert leaf.has_valid_signature(suite, group_id, index)
        validate_tree(tree, suite, group_id)
    print(summary(FILE, len(ours), skipped))
