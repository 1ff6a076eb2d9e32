"""Tree arithmetic beyond the vectors: paths, subtrees and common ancestors agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls import _tree_math as tm

sizes = st.integers(min_value=0, max_value=9).map(lambda k: 1 << k)


@given(sizes, st.data())
def test_direct_path_ends_at_root_and_copath_pairs_with_it(n: int, data: st.DataObject) -> None:
    leaf = data.draw(st.integers(min_value=0, max_value=n - 1))
    x = tm.leaf_node(leaf)
    path = tm.direct_path(x, n)
    assert (path[-1] if path else x) == tm.root(n)
    assert len(tm.copath(x, n)) == len(path)
    for child, sib in zip([x, *path], tm.copath(x, n), strict=False):
        assert tm.parent(child, n) == tm.parent(sib, n)


@given(sizes, st.data())
def test_common_ancestor_is_lowest_node_covering_both_leaves(n: int, data: st.DataObject) -> None:
    a = tm.leaf_node(data.draw(st.integers(min_value=0, max_value=n - 1)))
    b = tm.leaf_node(data.draw(st.integers(min_value=0, max_value=n - 1)))
    ca = tm.common_ancestor(a, b)
    assert tm.is_in_subtree(a, ca) and tm.is_in_subtree(b, ca)
    if ca != a:
        assert not (tm.is_in_subtree(a, tm.left(ca)) and tm.is_in_subtree(b, tm.left(ca)))
        assert not (tm.is_in_subtree(a, tm.right(ca)) and tm.is_in_subtree(b, tm.right(ca)))
    assert set(tm.leaves_under(ca)) >= {tm.node_leaf(a), tm.node_leaf(b)}
