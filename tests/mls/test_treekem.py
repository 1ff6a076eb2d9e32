"""TreeKEM between real members: every member reaches the committer's commit secret, and a
path that was tampered with, mis-sized or sent to the wrong context is rejected."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._ratchet_tree import RatchetTree, validate_tree
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import (
    Capabilities,
    Credential,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    UpdatePath,
)
from sottovoce.mls._treekem import (
    PreparedPath,
    decrypt_update_path,
    encrypt_update_path,
    merge_update_path,
    path_secrets_from,
    prepare_update_path,
)
from sottovoce.mls.errors import CryptoError, InvalidCommit

SUITE = get_suite(1)
GROUP = b"treekem-test-group"
CONTEXT = b"provisional group context"


@dataclass
class Member:
    signature_priv: bytes
    leaf: LeafNode
    keys: dict[int, bytes] = field(default_factory=dict)


def new_member(name: str) -> tuple[Member, bytes]:
    """A member with a key-package leaf; returns it and its leaf's HPKE private key."""
    enc_priv, enc_pub = SUITE.generate_hpke_key_pair()
    sig_priv, sig_pub = SUITE.generate_signature_key_pair()
    leaf = LeafNode(
        enc_pub,
        sig_pub,
        Credential.basic(name.encode()),
        Capabilities(cipher_suites=(1,)),
        LeafNodeSource.KEY_PACKAGE,
        lifetime=Lifetime(0, 2**64 - 1),
    ).signed(SUITE, sig_priv, b"", 0)
    return Member(sig_priv, leaf), enc_priv


class Group:
    """Public tree plus each member's private keys, advanced only through TreeKEM."""

    def __init__(self, size: int) -> None:
        first, priv = new_member("m0")
        self.tree = RatchetTree.with_one_leaf(first.leaf)
        first.keys[0] = priv
        self.members = {0: first}
        for i in range(1, size):
            self.add(f"m{i}")

    def add(self, name: str) -> int:
        member, priv = new_member(name)
        self.tree, index = self.tree.with_leaf_added(member.leaf)
        member.keys[tm.leaf_node(index)] = priv
        self.members[index] = member
        return index

    def remove(self, index: int) -> Member:
        self.tree = self.tree.with_leaf_removed(index)
        return self.members.pop(index)

    def prepare(self, sender: int) -> PreparedPath:
        template = self.tree.leaf(sender)
        assert template is not None
        return prepare_update_path(
            self.tree,
            SUITE,
            sender,
            template,
            signature_priv=self.members[sender].signature_priv,
            group_id=GROUP,
            leaf_secret=os.urandom(32),
            path_secret=os.urandom(32),
        )

    def commit(self, sender: int, excluded: tuple[int, ...] = ()) -> bytes:
        """Run a full path update; every member must agree. Returns the commit secret."""
        prepared = self.prepare(sender)
        path = encrypt_update_path(prepared, SUITE, CONTEXT, excluded)
        merged = merge_update_path(
            self.tree, SUITE, sender, path, group_id=GROUP, excluded=excluded
        )
        assert merged == prepared.tree
        validate_tree(merged, SUITE, GROUP)
        stale = set(tm.direct_path(tm.leaf_node(sender), self.tree.n_leaves))
        for index, member in self.members.items():
            if index == sender:
                member.keys = {x: k for x, k in member.keys.items() if x not in stale}
                member.keys.update(prepared.secrets.private_keys)
                continue
            if index in excluded:
                continue
            got = decrypt_update_path(
                merged,
                SUITE,
                sender,
                path,
                receiver=index,
                private_keys=member.keys,
                group_context=CONTEXT,
                excluded=excluded,
            )
            assert got.commit_secret == prepared.secrets.commit_secret
            member.keys = {x: k for x, k in member.keys.items() if x not in stale}
            member.keys.update(got.private_keys)
        self.tree = merged
        return prepared.secrets.commit_secret


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=1, max_value=9), st.lists(st.integers(min_value=0), max_size=4))
def test_every_member_reaches_the_committers_commit_secret(size: int, picks: list[int]) -> None:
    group = Group(size)
    for pick in picks:
        senders = sorted(group.members)
        group.commit(senders[pick % len(senders)])


def test_commits_after_removals_still_reach_everyone() -> None:
    group = Group(7)
    group.commit(0)
    group.remove(3)
    group.remove(6)
    group.commit(5)
    group.commit(1)
    assert sorted(group.members) == [0, 1, 2, 4, 5]


def test_a_lone_member_commits_with_an_empty_path() -> None:
    group = Group(1)
    prepared = group.prepare(0)
    path = encrypt_update_path(prepared, SUITE, CONTEXT)
    assert path.nodes == ()
    assert len(prepared.secrets.commit_secret) == SUITE.hash_len


def test_members_added_by_the_commit_get_no_ciphertext_and_can_join_from_the_path_secret() -> None:
    group = Group(3)
    group.commit(0)
    new = group.add("joiner")
    prepared = group.prepare(0)
    path = encrypt_update_path(prepared, SUITE, CONTEXT, excluded=(new,))
    ciphertexts = sum(len(n.encrypted_path_secret) for n in path.nodes)
    recipients = sum(
        len([x for x in group.tree.resolution(c) if x != tm.leaf_node(new)])
        for c in group.tree.filtered_copath(0)
    )
    assert ciphertexts == recipients
    with pytest.raises(InvalidCommit):
        merge_update_path(group.tree, SUITE, 0, path, group_id=GROUP)
    # The Welcome carries the secret of the lowest shared node; the rest follows from it.
    ancestor = tm.common_ancestor(0, tm.leaf_node(new))
    joined = path_secrets_from(
        prepared.tree, SUITE, 0, ancestor, prepared.secrets.path_secrets[ancestor]
    )
    assert joined.commit_secret == prepared.secrets.commit_secret


def _tampered(path: UpdatePath, node: int, key: bytes) -> UpdatePath:
    nodes = list(path.nodes)
    nodes[node] = dataclasses.replace(nodes[node], encryption_key=key)
    return dataclasses.replace(path, nodes=tuple(nodes))


def test_path_with_a_swapped_public_key_is_rejected_by_parent_hash() -> None:
    group = Group(4)
    path = encrypt_update_path(group.prepare(0), SUITE, CONTEXT)
    forged = _tampered(path, 1, SUITE.generate_hpke_key_pair()[1])
    with pytest.raises(InvalidCommit, match="parent hash"):
        merge_update_path(group.tree, SUITE, 0, forged, group_id=GROUP)


def test_path_with_too_few_nodes_is_rejected() -> None:
    group = Group(4)
    path = encrypt_update_path(group.prepare(2), SUITE, CONTEXT)
    short = dataclasses.replace(path, nodes=path.nodes[:-1])
    with pytest.raises(InvalidCommit, match="nodes"):
        merge_update_path(group.tree, SUITE, 2, short, group_id=GROUP)


def test_path_leaf_signed_for_another_group_is_rejected() -> None:
    group = Group(2)
    prepared = group.prepare(1)
    path = encrypt_update_path(prepared, SUITE, CONTEXT)
    other = path.leaf_node.signed(SUITE, group.members[1].signature_priv, b"other group", 1)
    with pytest.raises(InvalidCommit, match="signature"):
        merge_update_path(
            group.tree, SUITE, 1, dataclasses.replace(path, leaf_node=other), group_id=GROUP
        )


def test_path_leaf_keeping_the_old_encryption_key_is_rejected() -> None:
    group = Group(2)
    prepared = group.prepare(1)
    old, new = group.tree.leaf(1), prepared.tree.leaf(1)
    assert old is not None and new is not None
    stale_leaf = dataclasses.replace(new, encryption_key=old.encryption_key).signed(
        SUITE, group.members[1].signature_priv, GROUP, 1
    )
    path = encrypt_update_path(prepared, SUITE, CONTEXT)
    with pytest.raises(InvalidCommit, match="old encryption key"):
        merge_update_path(
            group.tree, SUITE, 1, dataclasses.replace(path, leaf_node=stale_leaf), group_id=GROUP
        )


def test_decrypting_under_another_group_context_fails() -> None:
    group = Group(3)
    prepared = group.prepare(0)
    path = encrypt_update_path(prepared, SUITE, CONTEXT)
    merged = merge_update_path(group.tree, SUITE, 0, path, group_id=GROUP)
    with pytest.raises(CryptoError):
        decrypt_update_path(
            merged,
            SUITE,
            0,
            path,
            receiver=1,
            private_keys=group.members[1].keys,
            group_context=b"another context",
        )


def test_removed_member_cannot_decrypt_the_next_path() -> None:
    group = Group(4)
    group.commit(0)
    removed = group.remove(3)
    prepared = group.prepare(0)
    path = encrypt_update_path(prepared, SUITE, CONTEXT)
    merged = merge_update_path(group.tree, SUITE, 0, path, group_id=GROUP)
    with pytest.raises(InvalidCommit):
        decrypt_update_path(
            merged,
            SUITE,
            0,
            path,
            receiver=2,
            private_keys=removed.keys,
            group_context=CONTEXT,
        )


def test_update_path_round_trips_through_its_encoding() -> None:
    group = Group(5)
    path = encrypt_update_path(group.prepare(4), SUITE, CONTEXT)
    assert decode_all(serialize(path), UpdatePath.decode) == path
