"""The public ratchet tree (RFC 9420 sections 4, 7.4-7.9 and 12.1): an immutable node array.

Every change returns a new tree, so a rejected proposal or commit leaves the caller's tree as
it was. Leaves are at even node indices and the number of leaves is a power of two.

Because a tree never changes, what is derived from it (subtree hashes, resolutions) is computed
at most once per tree, and a changed tree keeps the subtree hashes the change did not touch: a
commit then rehashes O(log n) nodes instead of the whole tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Self

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import Encodable, Reader, Writer
from sottovoce.mls._protocol_version import ProtocolVersion
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._tree_structs import (
    LeafNode,
    LeafNodeSource,
    Node,
    NodeType,
    ParentNode,
    RequiredCapabilities,
)
from sottovoce.mls.errors import DecodeError, InvalidLeafNode, InvalidTree

TreeNode = LeafNode | ParentNode


def _write_node(w: Writer, node: Encodable) -> None:
    node.encode(w)


def _write_optional_node(w: Writer, node: TreeNode | None) -> None:
    w.optional(None if node is None else Node(node), _write_node)


def _read_optional_node(r: Reader) -> TreeNode | None:
    node = r.optional(Node.decode)
    return None if node is None else node.value


@dataclass(frozen=True, slots=True)
class RatchetTree:
    nodes: tuple[TreeNode | None, ...]
    _hashes: dict[int, list[bytes | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Subtree hash of each node (``None`` until computed), per cipher suite id."""
    _resolutions: dict[int, tuple[int, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        n_leaves = (len(self.nodes) + 1) // 2
        if n_leaves & (n_leaves - 1) or tm.node_width(n_leaves) != len(self.nodes):
            raise InvalidTree(f"{len(self.nodes)} nodes is not a full tree")
        # Every change builds a new tree, so this runs per change: scan leaves and parents as
        # two slices and locate the culprit only when there is one.
        leaves, parents = self.nodes[::2], self.nodes[1::2]
        if not all(n is None or isinstance(n, LeafNode) for n in leaves) or not all(
            n is None or isinstance(n, ParentNode) for n in parents
        ):
            x = next(
                x
                for x, n in enumerate(self.nodes)
                if n is not None and isinstance(n, LeafNode) != tm.is_leaf(x)
            )
            expected = LeafNode if tm.is_leaf(x) else ParentNode
            raise InvalidTree(f"node {x} must be a {expected.__name__}")

    @classmethod
    def with_one_leaf(cls, leaf: LeafNode) -> Self:
        return cls((leaf,))

    @property
    def n_leaves(self) -> int:
        return (len(self.nodes) + 1) // 2

    @property
    def root(self) -> int:
        return tm.root(self.n_leaves)

    def leaf(self, leaf_index: int) -> LeafNode | None:
        if not 0 <= leaf_index < self.n_leaves:
            return None
        node = self.nodes[tm.leaf_node(leaf_index)]
        assert node is None or isinstance(node, LeafNode)
        return node

    def parent_node(self, x: int) -> ParentNode | None:
        node = self.nodes[x]
        assert node is None or isinstance(node, ParentNode)
        return node

    def members(self) -> Iterator[tuple[int, LeafNode]]:
        """``(leaf_index, leaf)`` for every non-blank leaf, left to right."""
        for i, leaf in enumerate(self.nodes[::2]):
            if leaf is not None:
                assert isinstance(leaf, LeafNode)
                yield i, leaf

    def encryption_key(self, x: int) -> bytes:
        node = self.nodes[x]
        if node is None:
            raise InvalidTree(f"node {x} is blank and has no key")
        return node.encryption_key

    def resolution(self, x: int) -> list[int]:
        """The non-blank nodes that cover the subtree of ``x`` (RFC 9420 section 4.1.1)."""
        return list(self._resolution(x))

    def _resolution(self, x: int) -> tuple[int, ...]:
        cached = self._resolutions.get(x)
        if cached is not None:
            return cached
        node = self.nodes[x]
        if isinstance(node, ParentNode):
            result = (x, *(tm.leaf_node(i) for i in node.unmerged_leaves))
        elif node is not None:
            result = (x,)
        elif tm.is_leaf(x):
            result = ()
        else:
            result = self._resolution(tm.left(x)) + self._resolution(tm.right(x))
        self._resolutions[x] = result
        return result

    def filtered_direct_path(self, leaf_index: int) -> list[int]:
        """Direct-path nodes whose copath child has a non-empty resolution (section 4.1.2)."""
        x = tm.leaf_node(leaf_index)
        n = self.n_leaves
        return [
            p
            for p, c in zip(tm.direct_path(x, n), tm.copath(x, n), strict=True)
            if self._resolution(c)
        ]

    def filtered_copath(self, leaf_index: int) -> list[int]:
        """Copath child of each node of the filtered direct path, in the same order."""
        x = tm.leaf_node(leaf_index)
        n = self.n_leaves
        return [c for c in tm.copath(x, n) if self._resolution(c)]

    def replaced(self, changes: dict[int, TreeNode | None]) -> RatchetTree:
        nodes = list(self.nodes)
        for x, node in changes.items():
            nodes[x] = node
        tree = RatchetTree(tuple(nodes))
        stale = set(changes)
        for x in changes:
            stale.update(tm.direct_path(x, self.n_leaves))
        for suite_id, hashes in self._hashes.items():
            kept = list(hashes)
            for x in stale:
                kept[x] = None
            tree._hashes[suite_id] = kept
        # A resolution, like a subtree hash, reads only the subtree under its node.
        tree._resolutions.update((x, r) for x, r in self._resolutions.items() if x not in stale)
        return tree

    def with_direct_path_blanked(self, leaf_index: int) -> RatchetTree:
        return self.replaced(dict.fromkeys(tm.direct_path(tm.leaf_node(leaf_index), self.n_leaves)))

    def with_leaf_added(self, leaf: LeafNode) -> tuple[RatchetTree, int]:
        """Place ``leaf`` at the leftmost blank leaf, widening the tree if it is full, and mark
        it unmerged at every non-blank ancestor (RFC 9420 section 12.1.1)."""
        index = next((i for i in range(self.n_leaves) if self.leaf(i) is None), self.n_leaves)
        tree = self
        if index == self.n_leaves:
            tree = RatchetTree(self.nodes + (None,) * len(self.nodes) + (None,))
        changes: dict[int, TreeNode | None] = {tm.leaf_node(index): leaf}
        for p in tm.direct_path(tm.leaf_node(index), tree.n_leaves):
            node = tree.parent_node(p)
            if node is not None:
                unmerged = (*node.unmerged_leaves, index)
                changes[p] = dataclasses.replace(node, unmerged_leaves=unmerged)
        return tree.replaced(changes), index

    def with_leaf_updated(self, leaf_index: int, leaf: LeafNode) -> RatchetTree:
        """Replace a member's leaf and blank its direct path (section 12.1.2)."""
        self._require_member(leaf_index)
        blanked = self.with_direct_path_blanked(leaf_index)
        return blanked.replaced({tm.leaf_node(leaf_index): leaf})

    def with_leaf_removed(self, leaf_index: int) -> RatchetTree:
        """Blank a member's leaf and direct path, then truncate (section 12.1.3)."""
        self._require_member(leaf_index)
        blanked = self.with_direct_path_blanked(leaf_index)
        return blanked.replaced({tm.leaf_node(leaf_index): None}).truncated()

    def truncated(self) -> RatchetTree:
        """Drop the root and its right subtree while that subtree is entirely blank."""
        nodes = self.nodes
        while len(nodes) > 1 and all(n is None for n in nodes[len(nodes) // 2 + 1 :]):
            nodes = nodes[: len(nodes) // 2]
        return RatchetTree(nodes)

    def _require_member(self, leaf_index: int) -> None:
        if self.leaf(leaf_index) is None:
            raise InvalidTree(f"leaf {leaf_index} is not a member")

    def _subtree_hash(
        self, suite: CipherSuite, x: int, excluded: frozenset[int] = frozenset()
    ) -> bytes:
        """Tree hash of the subtree under ``x`` as if the leaves in ``excluded`` were blank."""
        if any(tm.is_in_subtree(tm.leaf_node(i), x) for i in excluded):
            return self._hash_node(suite, x, excluded)
        hashes = self._hashes.setdefault(suite.suite_id, [None] * len(self.nodes))
        digest = hashes[x]
        if digest is None:
            digest = hashes[x] = self._hash_node(suite, x, frozenset())
        return digest

    def _hash_node(self, suite: CipherSuite, x: int, excluded: frozenset[int]) -> bytes:
        w = Writer()
        if tm.is_leaf(x):
            leaf_index = tm.node_leaf(x)
            leaf: Encodable | None = None if leaf_index in excluded else self.nodes[x]
            w.u8(NodeType.LEAF).u32(leaf_index).optional(leaf, _write_node)
        else:
            left = self._subtree_hash(suite, tm.left(x), excluded)
            right = self._subtree_hash(suite, tm.right(x), excluded)
            node = self.parent_node(x)
            if node is not None and excluded:
                kept = tuple(i for i in node.unmerged_leaves if i not in excluded)
                node = dataclasses.replace(node, unmerged_leaves=kept)
            w.u8(NodeType.PARENT).optional(node, _write_node).opaque(left).opaque(right)
        return suite.hash(w.bytes())

    def tree_hash(self, suite: CipherSuite) -> bytes:
        """Hash of the whole tree (RFC 9420 section 7.8), as bound into the GroupContext."""
        return self._subtree_hash(suite, self.root)

    def node_hashes(self, suite: CipherSuite) -> list[bytes]:
        """The tree hash of the subtree under every node, indexed by node."""
        return [self._subtree_hash(suite, x) for x in range(len(self.nodes))]

    def parent_hash(self, suite: CipherSuite, p: int, copath_child: int) -> bytes:
        """Parent hash of ``p`` as seen from its child opposite ``copath_child``: it covers
        ``p``'s key and parent hash and the sibling subtree as it was when ``p`` was set,
        i.e. without ``p``'s unmerged leaves (RFC 9420 section 7.9)."""
        node = self.parent_node(p)
        if node is None:
            raise InvalidTree(f"parent hash of blank node {p}")
        return self.parent_hash_of(suite, node, copath_child)

    def parent_hash_of(self, suite: CipherSuite, node: ParentNode, copath_child: int) -> bytes:
        """Parent hash of ``node`` placed as the parent of ``copath_child`` and its sibling.
        Only ``copath_child``'s subtree is read, so ``node`` need not be in this tree yet."""
        sibling_hash = self._subtree_hash(suite, copath_child, frozenset(node.unmerged_leaves))
        return suite.hash(
            Writer()
            .opaque(node.encryption_key)
            .opaque(node.parent_hash)
            .opaque(sibling_hash)
            .bytes()
        )

    def _stored_parent_hash(self, x: int) -> bytes | None:
        node = self.nodes[x]
        if isinstance(node, ParentNode):
            return node.parent_hash
        return None if node is None else node.parent_hash

    def _parent_hash_valid_via(self, suite: CipherSuite, p: int, child: int, sib: int) -> bool:
        """Whether some node ``D`` under ``child`` carries ``p``'s parent hash and every other
        node of ``child``'s resolution is one of ``p``'s unmerged leaves (section 7.9.2)."""
        resolution = self.resolution(child)
        if not resolution:
            return False
        expected = self.parent_hash(suite, p, sib)
        node = self.parent_node(p)
        assert node is not None
        unmerged_here = {
            tm.leaf_node(i) for i in node.unmerged_leaves if tm.is_in_subtree(2 * i, child)
        }
        return any(
            self._stored_parent_hash(d) == expected and set(resolution) - {d} == unmerged_here
            for d in resolution
        )

    def verify_parent_hashes(self, suite: CipherSuite) -> None:
        """Every non-blank parent node must be chained to a leaf by parent hashes."""
        for p in range(1, len(self.nodes), 2):
            if self.nodes[p] is None:
                continue
            left, right = tm.left(p), tm.right(p)
            if not (
                self._parent_hash_valid_via(suite, p, left, right)
                or self._parent_hash_valid_via(suite, p, right, left)
            ):
                raise InvalidTree(f"parent node {p} is not parent-hash valid")

    def verify_unmerged_leaves(self) -> None:
        """An unmerged leaf is a member below its node, and unmerged at every non-blank node
        between them (RFC 9420 section 12.4.3.1)."""
        for p in range(1, len(self.nodes), 2):
            node = self.parent_node(p)
            if node is None:
                continue
            for i in node.unmerged_leaves:
                if not tm.is_in_subtree(tm.leaf_node(i), p) or self.leaf(i) is None:
                    raise InvalidTree(f"node {p} lists leaf {i} as unmerged but does not hold it")
                for q in tm.direct_path(tm.leaf_node(i), self.n_leaves):
                    if q == p:
                        break
                    below = self.parent_node(q)
                    if below is not None and i not in below.unmerged_leaves:
                        raise InvalidTree(f"leaf {i} is unmerged at node {p} but not at {q}")

    def encode(self, w: Writer) -> None:
        """``optional<Node> ratchet_tree<V>`` with trailing blank nodes left out."""
        last = max(x for x, node in enumerate(self.nodes) if node is not None)
        w.vector(self.nodes[: last + 1], _write_optional_node)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        nodes = r.vector(_read_optional_node)
        if not nodes or nodes[-1] is None:
            raise DecodeError("ratchet tree is empty or ends in a blank node")
        if len(nodes) % 2 == 0:
            raise DecodeError("ratchet tree must end in a leaf")
        width = 1
        while width < len(nodes):
            width = 2 * width + 1
        try:
            return cls(tuple(nodes) + (None,) * (width - len(nodes)))
        except InvalidTree as exc:
            raise DecodeError(str(exc)) from exc


def validate_leaf_node(
    tree: RatchetTree,
    suite: CipherSuite,
    leaf: LeafNode,
    *,
    leaf_index: int,
    group_id: bytes,
    source: LeafNodeSource,
    required: RequiredCapabilities | None = None,
    now: int | None = None,
) -> None:
    """The checks of RFC 9420 section 7.3 for ``leaf`` taking (or keeping) slot ``leaf_index``.

    ``now`` (Unix seconds) enables the lifetime check, which applies to leaves arriving in a
    message but not to leaves already in a tree being joined. Credential contents are the
    application's to judge.
    """
    _validate_leaf_alone(
        suite,
        leaf,
        leaf_index=leaf_index,
        group_id=group_id,
        source=source,
        required=required,
        now=now,
    )
    caps = leaf.capabilities
    for i, other in tree.members():
        if i == leaf_index:
            continue
        if other.credential.credential_type not in caps.credentials:
            raise InvalidLeafNode(f"leaf does not support the credential type of member {i}")
        if leaf.credential.credential_type not in other.capabilities.credentials:
            raise InvalidLeafNode(f"member {i} does not support the leaf's credential type")
        if other.encryption_key == leaf.encryption_key:
            raise InvalidLeafNode(f"leaf reuses the encryption key of member {i}")
        if other.signature_key == leaf.signature_key:
            raise InvalidLeafNode(f"leaf reuses the signature key of member {i}")


def _validate_leaf_alone(
    suite: CipherSuite,
    leaf: LeafNode,
    *,
    leaf_index: int,
    group_id: bytes,
    source: LeafNodeSource,
    required: RequiredCapabilities | None,
    now: int | None,
) -> None:
    """The checks of section 7.3 that do not compare ``leaf`` with the other members."""
    if leaf.leaf_node_source != source:
        raise InvalidLeafNode(
            f"leaf node source is {leaf.leaf_node_source.name}, not {source.name}"
        )
    if not leaf.has_valid_signature(suite, group_id, leaf_index):
        raise InvalidLeafNode(f"signature of leaf {leaf_index} does not verify")
    caps = leaf.capabilities
    if ProtocolVersion.MLS10 not in caps.versions or suite.suite_id not in caps.cipher_suites:
        raise InvalidLeafNode("leaf does not support the group's protocol version and cipher suite")
    if required is not None and not (
        set(required.extension_types) <= set(caps.extensions)
        and set(required.proposal_types) <= set(caps.proposals)
        and set(required.credential_types) <= set(caps.credentials)
    ):
        raise InvalidLeafNode("leaf lacks a capability the group requires")
    missing_extensions = {e.extension_type for e in leaf.extensions} - set(caps.extensions)
    if missing_extensions:
        raise InvalidLeafNode(f"leaf carries extensions it does not list: {missing_extensions}")
    if source == LeafNodeSource.KEY_PACKAGE and now is not None:
        assert leaf.lifetime is not None
        if not leaf.lifetime.not_before <= now <= leaf.lifetime.not_after:
            raise InvalidLeafNode("leaf lifetime does not cover the current time")


def validate_tree(
    tree: RatchetTree,
    suite: CipherSuite,
    group_id: bytes,
    required: RequiredCapabilities | None = None,
) -> None:
    """Everything a joiner checks of a tree besides its hash (RFC 9420 section 12.4.3.1).

    The section 7.3 rules that compare members pairwise are checked here for the whole tree at
    once, in O(n) rather than O(n^2) comparisons.
    """
    tree.verify_parent_hashes(suite)
    tree.verify_unmerged_leaves()
    members = list(tree.members())
    for i, leaf in members:
        try:
            _validate_leaf_alone(
                suite,
                leaf,
                leaf_index=i,
                group_id=group_id,
                source=leaf.leaf_node_source,
                required=required,
                now=None,
            )
        except InvalidLeafNode as exc:
            raise InvalidTree(f"leaf {i}: {exc}") from exc
    holders: dict[int, list[int]] = {}
    for i, leaf in members:
        holders.setdefault(leaf.credential.credential_type, []).append(i)
    for i, leaf in members:
        for credential_type, who in holders.items():
            others = [j for j in who[:2] if j != i]
            if others and credential_type not in leaf.capabilities.credentials:
                raise InvalidTree(
                    f"leaf {i} does not support the credential type of member {others[0]}"
                )
    signature_keys = {leaf.signature_key for _, leaf in members}
    if len(signature_keys) != len(members):
        raise InvalidTree("a signature key appears at two leaves")
    keys = [node.encryption_key for node in tree.nodes if node is not None]
    if len(set(keys)) != len(keys):
        raise InvalidTree("an encryption key appears at two nodes")
