"""TreeKEM (RFC 9420 sections 7.4-7.6, 7.9, 12.4.1 and 12.4.2): creating and processing the
UpdatePath of a commit.

Both sides work in two steps because the HPKE context is the provisional GroupContext, whose
tree hash covers the tree with the path merged:

- committer: ``prepare_update_path`` (new keys, parent hashes, signed leaf, provisional tree),
  then ``encrypt_update_path`` with the serialized provisional GroupContext;
- member: ``merge_update_path`` (validate and merge the public part), then
  ``decrypt_update_path`` with the same GroupContext.

Randomness is an input (``leaf_secret``, ``path_secret``) so the module stays deterministic;
the HPKE encryptions are the only other source of fresh randomness.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._ratchet_tree import RatchetTree, validate_leaf_node
from sottovoce.mls._suite import CipherSuite
from sottovoce.mls._tree_structs import (
    HPKECiphertext,
    LeafNode,
    LeafNodeSource,
    ParentNode,
    RequiredCapabilities,
    UpdatePath,
    UpdatePathNode,
)
from sottovoce.mls.errors import InvalidCommit, InvalidLeafNode

_ENCRYPT_LABEL = b"UpdatePathNode"


@dataclass(frozen=True, slots=True)
class PathSecrets:
    """What one member learns from a path: secrets and HPKE private keys by node index."""

    path_secrets: dict[int, bytes]
    private_keys: dict[int, bytes]
    commit_secret: bytes


@dataclass(frozen=True, slots=True)
class PreparedPath:
    """The committer's side before encryption. ``tree`` is the provisional tree: the sender's
    new leaf and path merged, all else as given. ``secrets`` includes the new leaf's key."""

    tree: RatchetTree
    sender: int
    secrets: PathSecrets


def node_key_pair(suite: CipherSuite, path_secret: bytes) -> tuple[bytes, bytes]:
    """The HPKE key pair a path secret gives its node: ``(private, public)``."""
    return suite.derive_key_pair(suite.derive_secret(path_secret, b"node"))


def path_secrets_from(
    tree: RatchetTree, suite: CipherSuite, sender: int, start: int, path_secret: bytes
) -> PathSecrets:
    """Secrets and keys for ``start`` and every node above it on ``sender``'s filtered direct
    path, given the path secret of ``start`` (how a member or a joiner continues the chain)."""
    path = tree.filtered_direct_path(sender)
    if start not in path:
        raise InvalidCommit(f"node {start} is not on the filtered direct path of leaf {sender}")
    secrets: dict[int, bytes] = {}
    keys: dict[int, bytes] = {}
    secret = path_secret
    for x in path[path.index(start) :]:
        secrets[x] = secret
        keys[x] = node_key_pair(suite, secret)[0]
        secret = suite.derive_secret(secret, b"path")
    return PathSecrets(secrets, keys, commit_secret=secret)


def _merge_public_keys(
    tree: RatchetTree, suite: CipherSuite, sender: int, keys: list[bytes]
) -> tuple[RatchetTree, bytes]:
    """Blank ``sender``'s direct path, then set its filtered direct path to ``keys`` with parent
    hashes chained from the root down (RFC 9420 section 7.9). Returns the tree and the parent
    hash the sender's new leaf must carry."""
    path = tree.filtered_direct_path(sender)
    copath = tree.filtered_copath(sender)
    blanked = tree.with_direct_path_blanked(sender)
    # A node's parent hash reads only its copath child's subtree, which the path does not
    # touch, so every node's hash comes from ``blanked`` and the path is merged in one step.
    changes: dict[int, LeafNode | ParentNode | None] = {}
    parent_hash = b""
    for p, sibling, key in reversed(list(zip(path, copath, keys, strict=True))):
        node = ParentNode(key, parent_hash)
        changes[p] = node
        parent_hash = blanked.parent_hash_of(suite, node, sibling)
    return blanked.replaced(changes), parent_hash


def _recipients(tree: RatchetTree, copath_child: int, excluded: Collection[int]) -> list[int]:
    """Nodes a path secret is encrypted to: the copath child's resolution without the leaves
    of members added by this same commit (they get it from the Welcome)."""
    if not excluded:
        return tree.resolution(copath_child)
    return [
        x
        for x in tree.resolution(copath_child)
        if not (tm.is_leaf(x) and tm.node_leaf(x) in excluded)
    ]


def prepare_update_path(
    tree: RatchetTree,
    suite: CipherSuite,
    sender: int,
    template: LeafNode,
    *,
    signature_priv: bytes,
    group_id: bytes,
    leaf_secret: bytes,
    path_secret: bytes,
) -> PreparedPath:
    """New leaf and path keys for ``sender`` in ``tree`` (proposals already applied).

    ``template`` gives the leaf's signature key, credential, capabilities and extensions; its
    encryption key, source, parent hash and signature are replaced. ``leaf_secret`` and
    ``path_secret`` must be fresh random values of the suite's hash length.
    """
    path = tree.filtered_direct_path(sender)
    if path:
        secrets = path_secrets_from(tree, suite, sender, path[0], path_secret)
    else:
        # Alone in the tree: no node to encrypt to, the random secret seeds the commit secret.
        secrets = PathSecrets({}, {}, suite.derive_secret(path_secret, b"path"))
    keys = [suite.public_key(secrets.private_keys[p]) for p in path]
    merged, parent_hash = _merge_public_keys(tree, suite, sender, keys)
    leaf_priv, leaf_pub = suite.derive_key_pair(leaf_secret)
    leaf = dataclasses.replace(
        template,
        encryption_key=leaf_pub,
        leaf_node_source=LeafNodeSource.COMMIT,
        lifetime=None,
        parent_hash=parent_hash,
    ).signed(suite, signature_priv, group_id, sender)
    merged = merged.replaced({tm.leaf_node(sender): leaf})
    secrets.private_keys[tm.leaf_node(sender)] = leaf_priv
    return PreparedPath(merged, sender, secrets)


def encrypt_update_path(
    prepared: PreparedPath,
    suite: CipherSuite,
    group_context: bytes,
    excluded: Collection[int] = (),
) -> UpdatePath:
    """Encrypt each path secret to the copath (RFC 9420 section 7.6). ``group_context`` is the
    serialized provisional GroupContext; ``excluded`` the leaf indices added by this commit."""
    tree, sender = prepared.tree, prepared.sender
    nodes = []
    for p, child in zip(
        tree.filtered_direct_path(sender), tree.filtered_copath(sender), strict=True
    ):
        sealed = suite.encrypt_with_label_to_each(
            [tree.encryption_key(x) for x in _recipients(tree, child, excluded)],
            _ENCRYPT_LABEL,
            group_context,
            prepared.secrets.path_secrets[p],
        )
        ciphertexts = tuple(HPKECiphertext(kem_output, ct) for kem_output, ct in sealed)
        nodes.append(UpdatePathNode(tree.encryption_key(p), ciphertexts))
    leaf = tree.leaf(sender)
    assert leaf is not None
    return UpdatePath(leaf, tuple(nodes))


def merge_update_path(
    tree: RatchetTree,
    suite: CipherSuite,
    sender: int,
    path: UpdatePath,
    *,
    group_id: bytes,
    excluded: Collection[int] = (),
    required: RequiredCapabilities | None = None,
) -> RatchetTree:
    """Validate the public part of ``sender``'s UpdatePath against ``tree`` (proposals already
    applied) and return the tree with it merged (RFC 9420 section 12.4.2)."""
    old_leaf = tree.leaf(sender)
    if old_leaf is None:
        raise InvalidCommit(f"committer leaf {sender} is blank")
    filtered = tree.filtered_copath(sender)
    if len(path.nodes) != len(filtered):
        raise InvalidCommit(
            f"UpdatePath has {len(path.nodes)} nodes, the filtered direct path {len(filtered)}"
        )
    for node, child in zip(path.nodes, filtered, strict=True):
        if len(node.encrypted_path_secret) != len(_recipients(tree, child, excluded)):
            raise InvalidCommit(f"UpdatePath node for copath child {child} has wrong fan-out")
    try:
        validate_leaf_node(
            tree,
            suite,
            path.leaf_node,
            leaf_index=sender,
            group_id=group_id,
            source=LeafNodeSource.COMMIT,
            required=required,
        )
    except InvalidLeafNode as exc:
        raise InvalidCommit(f"UpdatePath leaf: {exc}") from exc
    if path.leaf_node.encryption_key == old_leaf.encryption_key:
        raise InvalidCommit("UpdatePath leaf keeps the committer's old encryption key")
    merged, parent_hash = _merge_public_keys(
        tree, suite, sender, [n.encryption_key for n in path.nodes]
    )
    if path.leaf_node.parent_hash != parent_hash:
        raise InvalidCommit("UpdatePath leaf parent hash does not match its path")
    return merged.replaced({tm.leaf_node(sender): path.leaf_node})


def decrypt_update_path(
    merged: RatchetTree,
    suite: CipherSuite,
    sender: int,
    path: UpdatePath,
    *,
    receiver: int,
    private_keys: Mapping[int, bytes],
    group_context: bytes,
    excluded: Collection[int] = (),
) -> PathSecrets:
    """Recover the path secrets ``receiver`` shares with ``sender`` from a path already merged
    by ``merge_update_path``. ``private_keys`` are the receiver's HPKE keys by node index, as
    held before this commit; the derived public keys must match the path's."""
    receiver_node = tm.leaf_node(receiver)
    path_nodes = merged.filtered_direct_path(sender)
    copath = merged.filtered_copath(sender)
    k = next((i for i, c in enumerate(copath) if tm.is_in_subtree(receiver_node, c)), None)
    if k is None:
        raise InvalidCommit(f"leaf {receiver} is not covered by the path of leaf {sender}")
    child = copath[k]
    recipients = _recipients(merged, child, excluded)
    slot = next((i for i, x in enumerate(recipients) if x in private_keys), None)
    if slot is None:
        raise InvalidCommit(f"leaf {receiver} holds no key the path secret was encrypted to")
    ciphertext = path.nodes[k].encrypted_path_secret[slot]
    secret = suite.decrypt_with_label(
        private_keys[recipients[slot]],
        _ENCRYPT_LABEL,
        group_context,
        ciphertext.kem_output,
        ciphertext.ciphertext,
    )
    result = path_secrets_from(merged, suite, sender, path_nodes[k], secret)
    for x, private in result.private_keys.items():
        if suite.public_key(private) != merged.encryption_key(x):
            raise InvalidCommit(f"path secret for node {x} does not give the path's public key")
    return result
