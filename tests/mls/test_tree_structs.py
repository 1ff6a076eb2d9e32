"""Tree wire structures: vector trees round-trip byte for byte; malformed bytes are rejected."""

from __future__ import annotations

import pytest

from sottovoce.mls._codec import Reader, Writer, decode_all, serialize
from sottovoce.mls._suite import get_suite
from sottovoce.mls._tree_structs import (
    Capabilities,
    Credential,
    Extension,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    Node,
    RequiredCapabilities,
    UpdatePath,
)
from sottovoce.mls.errors import DecodeError
from tests.mls.vectors import hexb, load


def _read_tree(r: Reader) -> list[Node | None]:
    return r.vector(lambda inner: inner.optional(Node.decode))


def _write_tree(w: Writer, nodes: list[Node | None]) -> None:
    w.vector(nodes, lambda inner, n: inner.optional(n, lambda x, v: v.encode(x)))


def _leaf(source: LeafNodeSource = LeafNodeSource.UPDATE) -> LeafNode:
    return LeafNode(
        encryption_key=b"\x01" * 32,
        signature_key=b"\x02" * 32,
        credential=Credential.basic(b"alice"),
        capabilities=Capabilities(cipher_suites=(1,)),
        leaf_node_source=source,
        lifetime=Lifetime(0, 2**64 - 1) if source == LeafNodeSource.KEY_PACKAGE else None,
        parent_hash=b"\x03" * 32 if source == LeafNodeSource.COMMIT else None,
        extensions=(Extension(0x0A0A, b"grease"),),
        signature=b"sig",
    )


def test_vector_trees_reencode_to_the_same_bytes() -> None:
    for entry in load("tree-validation.json"):
        data = hexb(entry["tree"])
        nodes = decode_all(data, _read_tree)
        w = Writer()
        _write_tree(w, nodes)
        assert w.bytes() == data


def test_vector_update_paths_reencode_to_the_same_bytes() -> None:
    for entry in load("treekem.json"):
        for path in entry["update_paths"]:
            data = hexb(path["update_path"])
            assert serialize(decode_all(data, UpdatePath.decode)) == data


@pytest.mark.parametrize("source", list(LeafNodeSource))
def test_leaf_node_round_trips_for_each_source(source: LeafNodeSource) -> None:
    leaf = _leaf(source)
    assert decode_all(serialize(leaf), LeafNode.decode) == leaf


def test_leaf_node_with_reserved_source_is_rejected() -> None:
    data = bytearray(serialize(_leaf()))
    source_at = data.index(bytes([LeafNodeSource.UPDATE]), 2 + 32 + 1 + 32)
    data[source_at] = 0
    with pytest.raises(DecodeError):
        decode_all(bytes(data), LeafNode.decode)


def test_leaf_node_with_repeated_extension_type_is_rejected() -> None:
    leaf = _leaf()
    doubled = LeafNode(
        leaf.encryption_key,
        leaf.signature_key,
        leaf.credential,
        leaf.capabilities,
        leaf.leaf_node_source,
        extensions=(Extension(7, b"a"), Extension(7, b"b")),
    )
    with pytest.raises(DecodeError):
        decode_all(serialize(doubled), LeafNode.decode)


def test_unknown_credential_type_is_rejected() -> None:
    with pytest.raises(DecodeError):
        decode_all(b"\x00\x09\x00", Credential.decode)


def test_truncated_leaf_node_is_rejected() -> None:
    data = serialize(_leaf(LeafNodeSource.COMMIT))
    for cut in (1, 40, len(data) - 1):
        with pytest.raises(DecodeError):
            decode_all(data[:cut], LeafNode.decode)


def test_leaf_signature_binds_group_and_leaf_index() -> None:
    suite = get_suite(1)
    priv, pub = suite.generate_signature_key_pair()
    leaf = LeafNode(
        b"\x01" * 32,
        pub,
        Credential.basic(b"bob"),
        Capabilities(cipher_suites=(1,)),
        LeafNodeSource.COMMIT,
        parent_hash=b"",
    ).signed(suite, priv, b"group", 3)
    assert leaf.has_valid_signature(suite, b"group", 3)
    assert not leaf.has_valid_signature(suite, b"group", 4)
    assert not leaf.has_valid_signature(suite, b"other", 3)


def test_x509_credential_and_required_capabilities_round_trip() -> None:
    credential = Credential.x509((b"leaf cert", b"intermediate"))
    assert decode_all(serialize(credential), Credential.decode) == credential
    required = RequiredCapabilities((5,), (0x0A0A,), (1, 2))
    assert decode_all(serialize(required), RequiredCapabilities.decode) == required
