"""tree-operations.json: an Add, Update or Remove applied to tree_before gives tree_after."""

from __future__ import annotations

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._proposals import Add, Proposal, Remove, Update
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._suite import get_suite
from tests.mls.vectors import hexb, load, split_by_suite, summary

FILE = "tree-operations.json"


def _apply(tree: RatchetTree, proposal: Proposal, sender: int) -> RatchetTree:
    body = proposal.body
    if isinstance(body, Add):
        return tree.with_leaf_added(body.key_package.leaf_node)[0]
    if isinstance(body, Update):
        return tree.with_leaf_updated(sender, body.leaf_node)
    assert isinstance(body, Remove), f"unexpected {proposal.proposal_type.name} proposal"
    return tree.with_leaf_removed(body.removed)


def test_tree_operations_vectors() -> None:
    ours, skipped = split_by_suite(load(FILE))
    suite = get_suite(1)
    kinds = set()
    for entry in ours:
        before = decode_all(hexb(entry["tree_before"]), RatchetTree.decode)
        assert before.tree_hash(suite) == hexb(entry["tree_hash_before"])
        proposal = decode_all(hexb(entry["proposal"]), Proposal.decode)
        kinds.add(proposal.proposal_type.name)
        after = _apply(before, proposal, entry["proposal_sender"])
        assert serialize(after) == hexb(entry["tree_after"])
        assert after.tree_hash(suite) == hexb(entry["tree_hash_after"])
    print(summary(FILE, len(ours), skipped) + f" [proposals: {', '.join(sorted(kinds))}]")
