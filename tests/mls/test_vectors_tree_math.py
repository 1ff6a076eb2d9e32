"""tree-math.json: node counts, root, children, parent and sibling for trees up to 512 leaves."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sottovoce.mls import _tree_math as tm
from tests.mls.vectors import load

FILE = "tree-math.json"


def _or_none(f: Callable[[int], int], x: int) -> int | None:
    try:
        return f(x)
    except ValueError:
        return None


def _with_size(f: Callable[[int, int], int], n_leaves: int, x: int) -> int:
    return f(x, n_leaves)


def test_tree_math_matches_every_vector() -> None:
    entries = load(FILE)
    for e in entries:
        n = e["n_leaves"]
        assert tm.node_width(n) == e["n_nodes"]
        assert tm.root(n) == e["root"]
        nodes = range(e["n_nodes"])
        assert [_or_none(tm.left, x) for x in nodes] == e["left"]
        assert [_or_none(tm.right, x) for x in nodes] == e["right"]
        assert [_or_none(partial(_with_size, tm.parent, n), x) for x in nodes] == e["parent"]
        assert [_or_none(partial(_with_size, tm.sibling, n), x) for x in nodes] == e["sibling"]
    # Tree math has no cipher suite, so nothing is skipped.
    print(f"{FILE}: {len(entries)} cases passed, 0 skipped")
