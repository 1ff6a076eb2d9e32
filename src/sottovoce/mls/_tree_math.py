"""Array-based tree arithmetic (RFC 9420 section 4.1 and appendix C).

Nodes are numbered left to right; leaves sit at even indices and leaf ``i`` is node ``2 * i``.
A tree always has a power-of-two number of leaves, so every function below is exact arithmetic
on indices and needs no tree object.
"""

from __future__ import annotations


def level(x: int) -> int:
    """Height of node ``x`` above the leaves: the number of trailing one bits."""
    k = 0
    while (x >> k) & 1:
        k += 1
    return k


def node_width(n_leaves: int) -> int:
    return 0 if n_leaves == 0 else 2 * (n_leaves - 1) + 1


def root(n_leaves: int) -> int:
    return (1 << (node_width(n_leaves).bit_length() - 1)) - 1


def is_leaf(x: int) -> bool:
    return x % 2 == 0


def leaf_node(leaf_index: int) -> int:
    return 2 * leaf_index


def node_leaf(x: int) -> int:
    if not is_leaf(x):
        raise ValueError(f"node {x} is not a leaf")
    return x // 2


def left(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValueError(f"leaf {x} has no children")
    return x ^ (1 << (k - 1))


def right(x: int) -> int:
    k = level(x)
    if k == 0:
        raise ValueError(f"leaf {x} has no children")
    return x ^ (3 << (k - 1))


def parent(x: int, n_leaves: int) -> int:
    if x == root(n_leaves):
        raise ValueError(f"root {x} has no parent")
    k = level(x)
    b = (x >> (k + 1)) & 1
    return (x | (1 << k)) ^ (b << (k + 1))


def sibling(x: int, n_leaves: int) -> int:
    p = parent(x, n_leaves)
    return right(p) if x < p else left(p)


def direct_path(x: int, n_leaves: int) -> list[int]:
    """Ancestors of ``x`` from its parent up to and including the root."""
    r = root(n_leaves)
    path: list[int] = []
    while x != r:
        x = parent(x, n_leaves)
        path.append(x)
    return path


def copath(x: int, n_leaves: int) -> list[int]:
    """The sibling of ``x`` and of each ancestor below the root."""
    return [sibling(y, n_leaves) for y in [x, *direct_path(x, n_leaves)][:-1]]


def is_in_subtree(x: int, top: int) -> bool:
    """Whether ``x`` is ``top`` or one of its descendants (a subtree is a contiguous range)."""
    return abs(x - top) < (1 << level(top))


def _ancestor_at_level(x: int, k: int) -> int:
    return ((x >> (k + 1)) << (k + 1)) + (1 << k) - 1


def common_ancestor(x: int, y: int) -> int:
    """Lowest node whose subtree holds both ``x`` and ``y``."""
    k = max(level(x), level(y))
    while _ancestor_at_level(x, k) != _ancestor_at_level(y, k):
        k += 1
    return _ancestor_at_level(x, k)


def leaves_under(x: int) -> range:
    """Leaf indices of the subtree rooted at ``x``."""
    k = level(x)
    first = (x >> (k + 1)) << k
    return range(first, first + (1 << k))
