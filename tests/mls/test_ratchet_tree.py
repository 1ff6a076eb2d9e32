"""Ratchet tree rules beyond the vectors: placement of new leaves, truncation, strict decoding,
and each RFC 9420 section 7.3 / 7.9 check rejecting what it should."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import Writer, decode_all, serialize
from sottovoce.mls._ratchet_tree import RatchetTree, validate_leaf_node, validate_tree
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import (
    Capabilities,
    Credential,
    CredentialType,
    Extension,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    Node,
    ParentNode,
    RequiredCapabilities,
)
from sottovoce.mls.errors import DecodeError, InvalidLeafNode, InvalidTree
from tests.mls.vectors import hexb, load

SUITE = get_suite(1)
GROUP = b"group"
LIFETIME = Lifetime(100, 200)


def _leaf(
    name: str = "m",
    *,
    caps: Capabilities | None = None,
    source: LeafNodeSource = LeafNodeSource.KEY_PACKAGE,
    extensions: tuple[Extension, ...] = (),
    lifetime: Lifetime = LIFETIME,
    credential: Credential | None = None,
    index: int = 0,
    keys: tuple[bytes, bytes] | None = None,
    encryption_key: bytes | None = None,
) -> LeafNode:
    sig_priv, sig_pub = keys or SUITE.generate_signature_key_pair()
    return LeafNode(
        encryption_key or SUITE.generate_hpke_key_pair()[1],
        sig_pub,
        credential or Credential.basic(name.encode()),
        caps or Capabilities(cipher_suites=(1,)),
        source,
        lifetime=lifetime if source == LeafNodeSource.KEY_PACKAGE else None,
        parent_hash=b"" if source == LeafNodeSource.COMMIT else None,
        extensions=extensions,
    ).signed(SUITE, sig_priv, GROUP, index)


def _tree(n: int) -> RatchetTree:
    tree = RatchetTree.with_one_leaf(_leaf("m0"))
    for i in range(1, n):
        tree = tree.with_leaf_added(_leaf(f"m{i}"))[0]
    return tree


def _vector_tree_with_parents() -> RatchetTree:
    for entry in load("tree-validation.json"):
        tree = decode_all(hexb(entry["tree"]), RatchetTree.decode)
        if entry["cipher_suite"] == 1 and any(
            isinstance(n, ParentNode) and n.unmerged_leaves for n in tree.nodes
        ):
            return tree
    raise AssertionError("no suite-1 vector tree has a parent node with unmerged leaves")


def test_new_leaf_takes_the_leftmost_blank_slot_and_the_tree_doubles_when_full() -> None:
    tree = _tree(3)
    assert tree.n_leaves == 4
    tree = tree.with_leaf_removed(1)
    tree, index = tree.with_leaf_added(_leaf("again"))
    assert index == 1
    tree, index = tree.with_leaf_added(_leaf("fourth"))
    assert (index, tree.n_leaves) == (3, 4)
    tree, index = tree.with_leaf_added(_leaf("fifth"))
    assert (index, tree.n_leaves) == (4, 8)


def test_added_leaf_is_unmerged_at_every_non_blank_ancestor() -> None:
    tree = _tree(2).replaced({1: ParentNode(b"k" * 32, b"")})
    tree, index = tree.with_leaf_added(_leaf("late"))
    parent = tree.parent_node(3)
    assert parent is None  # the new root of the widened tree is blank
    assert tree.parent_node(1) == ParentNode(b"k" * 32, b"")
    tree = tree.replaced({5: ParentNode(b"j" * 32, b"")})
    tree, index = tree.with_leaf_added(_leaf("later"))
    assert index == 3
    assert tree.parent_node(5) == ParentNode(b"j" * 32, b"", (3,))


def test_removing_the_rightmost_members_truncates_the_tree() -> None:
    tree = _tree(5)
    assert tree.n_leaves == 8
    tree = tree.with_leaf_removed(4)
    assert tree.n_leaves == 4
    tree = tree.with_leaf_removed(3).with_leaf_removed(2)
    assert tree.n_leaves == 2
    assert decode_all(serialize(tree), RatchetTree.decode) == tree


def test_update_blanks_the_direct_path() -> None:
    tree = _tree(4).replaced({1: ParentNode(b"a" * 32, b""), 3: ParentNode(b"b" * 32, b"")})
    tree = tree.with_leaf_updated(0, _leaf("new", source=LeafNodeSource.UPDATE))
    assert tree.nodes[1] is None and tree.nodes[3] is None


def test_operations_on_a_blank_leaf_are_rejected() -> None:
    tree = _tree(3).with_leaf_removed(1)
    with pytest.raises(InvalidTree):
        tree.with_leaf_removed(1)
    with pytest.raises(InvalidTree):
        tree.with_leaf_updated(1, _leaf())


def _write_node(w: Writer, node: Node) -> None:
    node.encode(w)


def _write_slot(w: Writer, node: LeafNode | ParentNode | None) -> None:
    w.optional(None if node is None else Node(node), _write_node)


def _encoded(nodes: list[LeafNode | ParentNode | None]) -> bytes:
    """The extension's encoding, built by hand so malformed shapes can be written."""
    return Writer().vector(nodes, _write_slot).bytes()


def _shapes() -> dict[str, list[LeafNode | ParentNode | None]]:
    leaf = _leaf()
    parent = ParentNode(b"k" * 32, b"")
    return {
        "trailing blank": [leaf, None, None],
        "even length": [leaf, parent],
        "parent at a leaf slot": [leaf, None, parent],
        "empty": [],
    }


@pytest.mark.parametrize("shape", list(_shapes()))
def test_malformed_ratchet_tree_extension_is_rejected(shape: str) -> None:
    nodes = _shapes()[shape]
    with pytest.raises(DecodeError):
        decode_all(_encoded(nodes), RatchetTree.decode)


def test_tampered_parent_hash_breaks_the_chain() -> None:
    tree = _vector_tree_with_parents()
    tree.verify_parent_hashes(SUITE)
    p = next(x for x, n in enumerate(tree.nodes) if isinstance(n, ParentNode) and n.parent_hash)
    node = tree.parent_node(p)
    assert node is not None
    broken = tree.replaced({p: dataclasses.replace(node, parent_hash=bytes(32))})
    with pytest.raises(InvalidTree, match="parent-hash"):
        broken.verify_parent_hashes(SUITE)


def test_unmerged_leaf_outside_its_node_is_rejected() -> None:
    tree = _vector_tree_with_parents()
    tree.verify_unmerged_leaves()
    p, node = next(
        (x, n) for x, n in enumerate(tree.nodes) if isinstance(n, ParentNode) and n.unmerged_leaves
    )
    outside = next(i for i in range(tree.n_leaves) if not tm.is_in_subtree(2 * i, p))
    broken = tree.replaced({p: dataclasses.replace(node, unmerged_leaves=(outside,))})
    with pytest.raises(InvalidTree, match="unmerged"):
        broken.verify_unmerged_leaves()


def test_tree_hash_changes_with_any_leaf() -> None:
    tree = _tree(4)
    before = tree.tree_hash(SUITE)
    assert tree.with_leaf_updated(2, _leaf(source=LeafNodeSource.UPDATE)).tree_hash(SUITE) != before


def _check(
    tree: RatchetTree,
    leaf: LeafNode,
    *,
    source: LeafNodeSource = LeafNodeSource.KEY_PACKAGE,
    group_id: bytes = GROUP,
    required: RequiredCapabilities | None = None,
    now: int | None = None,
) -> None:
    """Validate ``leaf`` for slot 0, which the trees below leave blank."""
    validate_leaf_node(
        tree,
        SUITE,
        leaf,
        leaf_index=0,
        group_id=group_id,
        source=source,
        required=required,
        now=now,
    )


def test_a_well_formed_leaf_passes_every_check() -> None:
    tree = _tree(3).with_leaf_removed(0)
    _check(tree, _leaf(), now=150, required=RequiredCapabilities())
    validate_tree(_tree(3), SUITE, GROUP)


@pytest.mark.parametrize(
    ("leaf", "kwargs", "reason"),
    [
        (lambda: _leaf(), {"source": LeafNodeSource.UPDATE}, "source"),
        (
            lambda: _leaf(source=LeafNodeSource.UPDATE),
            {"source": LeafNodeSource.UPDATE, "group_id": b"other"},
            "signature",
        ),
        (lambda: _leaf(caps=Capabilities(cipher_suites=(2,))), {}, "cipher suite"),
        (lambda: _leaf(caps=Capabilities(cipher_suites=(1,), versions=(7,))), {}, "version"),
        (lambda: _leaf(), {"required": RequiredCapabilities(extension_types=(9,))}, "requires"),
        (lambda: _leaf(extensions=(Extension(0x0F0F, b""),)), {}, "does not list"),
        (lambda: _leaf(), {"now": 99}, "lifetime"),
        (lambda: _leaf(), {"now": 201}, "lifetime"),
        (
            lambda: _leaf(
                credential=Credential.x509((b"cert",)),
                caps=Capabilities(cipher_suites=(1,), credentials=(1, 2)),
            ),
            {},
            "credential type",
        ),
        (
            lambda: _leaf(
                caps=Capabilities(cipher_suites=(1,), credentials=(CredentialType.X509,))
            ),
            {},
            "credential type",
        ),
    ],
)
def test_leaf_breaking_a_section_7_3_rule_is_rejected(
    leaf: Callable[[], LeafNode], kwargs: dict[str, Any], reason: str
) -> None:
    tree = _tree(3).with_leaf_removed(0)
    with pytest.raises(InvalidLeafNode, match=reason):
        _check(tree, leaf(), **kwargs)


def test_leaf_reusing_a_members_keys_is_rejected() -> None:
    tree = _tree(2).with_leaf_removed(0)
    member = tree.leaf(1)
    assert member is not None
    with pytest.raises(InvalidLeafNode, match="encryption key"):
        _check(tree, _leaf(encryption_key=member.encryption_key))
    keys = SUITE.generate_signature_key_pair()
    tree = tree.replaced({2: _leaf("m1", keys=keys, index=1)})
    with pytest.raises(InvalidLeafNode, match="signature key"):
        _check(tree, _leaf(keys=keys))


def test_tree_with_a_bad_leaf_signature_is_invalid() -> None:
    tree = _tree(3)
    leaf = tree.leaf(1)
    assert leaf is not None
    tree = tree.replaced({2: dataclasses.replace(leaf, signature=bytes(64))})
    with pytest.raises(InvalidTree, match="leaf 1"):
        validate_tree(tree, SUITE, GROUP)


_POOL = [_leaf(f"pool{i}") for i in range(12)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "remove", "update"]), st.integers(0, 11))))
def test_any_sequence_of_changes_keeps_the_tree_full_truncated_and_encodable(
    ops: list[tuple[str, int]],
) -> None:
    tree = RatchetTree.with_one_leaf(_POOL[0])
    for op, n in ops:
        members = [i for i, _ in tree.members()]
        if op == "add":
            tree = tree.with_leaf_added(_POOL[n])[0]
        elif op == "remove" and len(members) > 1:
            tree = tree.with_leaf_removed(members[n % len(members)])
        elif op == "update":
            tree = tree.with_leaf_updated(members[n % len(members)], _POOL[n])
        width = len(tree.nodes)
        assert tree.n_leaves & (tree.n_leaves - 1) == 0
        assert tree.n_leaves == 1 or any(x is not None for x in tree.nodes[width // 2 :])
        assert decode_all(serialize(tree), RatchetTree.decode) == tree
        covered = [tm.node_leaf(x) for x in tree.resolution(tree.root) if tm.is_leaf(x)]
        assert sorted(covered) == [i for i, _ in tree.members()]


def _x509_member(index: int) -> LeafNode:
    return _leaf(
        f"m{index}",
        credential=Credential.x509((b"cert",)),
        caps=Capabilities(cipher_suites=(1,), credentials=(1, 2)),
        index=index,
    )


def test_tree_whose_member_cannot_read_another_members_credential_type_is_invalid() -> None:
    # Members 0 and 1 support only basic credentials; member 2 brings an X.509 one.
    tree = _tree(2).with_leaf_added(_x509_member(2))[0]
    with pytest.raises(InvalidTree, match="credential type of member 2"):
        validate_tree(tree, SUITE, GROUP)


def test_tree_where_every_member_supports_every_credential_type_in_use_is_valid() -> None:
    tree = RatchetTree.with_one_leaf(_x509_member(0))
    tree = tree.with_leaf_added(_leaf("m1", caps=Capabilities((1,), (1,), credentials=(1, 2))))[0]
    validate_tree(tree, SUITE, GROUP)


def test_tree_with_two_leaves_sharing_a_signature_key_is_invalid() -> None:
    keys = SUITE.generate_signature_key_pair()
    tree = RatchetTree.with_one_leaf(_leaf("m0", keys=keys))
    tree = tree.with_leaf_added(_leaf("m1", keys=keys, index=1))[0]
    with pytest.raises(InvalidTree, match="signature key"):
        validate_tree(tree, SUITE, GROUP)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "update", "parent"]), st.integers(0, 11)),
        max_size=12,
    )
)
def test_hashes_and_resolutions_of_a_changed_tree_equal_those_of_the_same_tree_built_fresh(
    ops: list[tuple[str, int]],
) -> None:
    # Trees cache subtree hashes and resolutions and hand the untouched ones to the trees
    # derived from them; computing both for every tree before changing it makes each change
    # start from a warm cache.
    tree = RatchetTree.with_one_leaf(_POOL[0])
    for op, n in ops:
        tree.node_hashes(SUITE)
        for x in range(len(tree.nodes)):
            tree.resolution(x)
        members = [i for i, _ in tree.members()]
        if op == "add":
            tree = tree.with_leaf_added(_POOL[n])[0]
        elif op == "remove" and len(members) > 1:
            tree = tree.with_leaf_removed(members[n % len(members)])
        elif op == "update":
            tree = tree.with_leaf_updated(members[n % len(members)], _POOL[n])
        elif op == "parent" and tree.n_leaves > 1:
            p = 2 * (n % (tree.n_leaves - 1)) + 1
            below = tuple(i for i in members if tm.is_in_subtree(tm.leaf_node(i), p))
            node = ParentNode(SUITE.generate_hpke_key_pair()[1], b"", below[1:])
            tree = tree.replaced({p: node})
        fresh = RatchetTree(tree.nodes)
        assert tree.node_hashes(SUITE) == fresh.node_hashes(SUITE)
        assert [tree.resolution(x) for x in range(len(tree.nodes))] == [
            fresh.resolution(x) for x in range(len(tree.nodes))
        ]
        for p in range(1, len(tree.nodes), 2):
            if tree.nodes[p] is not None:
                child = tm.left(p)
                assert tree.parent_hash(SUITE, p, child) == fresh.parent_hash(SUITE, p, child)
