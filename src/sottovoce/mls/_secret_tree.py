"""The secret tree and its per-sender hash ratchets (RFC 9420 section 9).

``SecretTree`` is an immutable value: taking a key returns the key and the tree that no longer
holds it. A caller keeps the new tree only once the message it opened has been fully accepted,
so a rejected message never consumes a generation.

Forward secrecy (section 9.2): a node's secret is dropped as soon as its children are derived, a
ratchet secret as soon as the next one is, and a key as soon as it is handed out. Keys of skipped
generations are kept only inside a bounded window, for messages that arrive out of order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Self

from sottovoce.mls import _tree_math as tm
from sottovoce.mls._codec import Reader, Writer
from sottovoce.mls._suite import CipherSuite, get_suite
from sottovoce.mls.errors import DecodeError, GenerationError, UnknownSender

# Generations are uint32 on the wire (PrivateMessage sender data).
MAX_GENERATION = (1 << 32) - 1
DEFAULT_OUT_OF_ORDER_WINDOW = 64
DEFAULT_MAX_FORWARD_DISTANCE = 1024


class RatchetKind(Enum):
    """Which of a sender's two ratchets: handshake (proposals, commits) or application."""

    HANDSHAKE = b"handshake"
    APPLICATION = b"application"


@dataclass(frozen=True, slots=True)
class RatchetKey:
    generation: int
    key: bytes
    nonce: bytes


@dataclass(frozen=True, slots=True)
class _Ratchet:
    generation: int
    """The next generation this ratchet has not derived yet."""
    secret: bytes
    """The ratchet secret for ``generation``."""
    skipped: Mapping[int, RatchetKey] = field(default_factory=lambda: MappingProxyType({}))
    """Keys of generations passed over on the way to a later one, not yet used."""


def _frozen(mapping: dict[int, RatchetKey]) -> Mapping[int, RatchetKey]:
    return MappingProxyType(mapping)


_RatchetId = tuple[int, RatchetKind]
_Bucket = MappingProxyType[_RatchetId, _Ratchet]
_BUCKET_BITS = 6
"""Ratchets are kept in buckets of 64 leaves, so that replacing one after a message copies a
bucket and the bucket index rather than every ratchet of the epoch."""


def _bucketed(ratchets: Iterable[tuple[_RatchetId, _Ratchet]]) -> MappingProxyType[int, _Bucket]:
    buckets: dict[int, dict[_RatchetId, _Ratchet]] = {}
    for (leaf, kind), ratchet in ratchets:
        buckets.setdefault(leaf >> _BUCKET_BITS, {})[(leaf, kind)] = ratchet
    return MappingProxyType({b: MappingProxyType(bucket) for b, bucket in buckets.items()})


@dataclass(frozen=True, slots=True)
class SecretTree:
    suite: CipherSuite
    n_leaves: int
    out_of_order_window: int
    max_forward_distance: int
    _nodes: MappingProxyType[int, bytes]
    """Secrets of the undeveloped frontier: every leaf has exactly one ancestor-or-self here,
    unless its ratchets were already derived."""
    _ratchets: MappingProxyType[int, _Bucket]
    """Derived ratchets by bucket (``leaf >> _BUCKET_BITS``), then by ``(leaf, kind)``.

    Both maps are read-only views, copied with ``copy()``: that copies the dict's hash table,
    where ``dict(view)`` would rehash every key (an Enum's hash is a Python call)."""

    @classmethod
    def create(
        cls,
        suite: CipherSuite,
        encryption_secret: bytes,
        n_leaves: int,
        *,
        out_of_order_window: int = DEFAULT_OUT_OF_ORDER_WINDOW,
        max_forward_distance: int = DEFAULT_MAX_FORWARD_DISTANCE,
    ) -> SecretTree:
        if n_leaves < 1 or n_leaves & (n_leaves - 1):
            raise ValueError(f"a secret tree has a power-of-two number of leaves, not {n_leaves}")
        if out_of_order_window < 0 or max_forward_distance < 0:
            raise ValueError("window and forward distance must not be negative")
        return cls(
            suite,
            n_leaves,
            out_of_order_window,
            max_forward_distance,
            MappingProxyType({tm.root(n_leaves): encryption_secret}),
            _bucketed(()),
        )

    def encode(self, w: Writer) -> None:
        """Local state encoding (not an RFC structure), for persisting a group between runs."""
        w.u16(self.suite.suite_id).u32(self.n_leaves)
        w.u32(self.out_of_order_window).u32(self.max_forward_distance)
        w.vector(sorted(self._nodes.items()), _write_node)
        ratchets = (item for bucket in self._ratchets.values() for item in bucket.items())
        w.vector(sorted(ratchets, key=_ratchet_order), _write_ratchet)

    @classmethod
    def decode(cls, r: Reader) -> Self:
        suite = get_suite(r.u16())
        n_leaves, window, max_forward = r.u32(), r.u32(), r.u32()
        if n_leaves < 1 or n_leaves & (n_leaves - 1):
            raise DecodeError(f"secret tree of {n_leaves} leaves")
        nodes = dict(r.vector(_read_node))
        ratchets = r.vector(_read_ratchet)
        width = tm.node_width(n_leaves)
        if any(x >= width for x in nodes) or any(leaf >= n_leaves for (leaf, _), _ in ratchets):
            raise DecodeError("secret tree state names a node outside the tree")
        return cls(
            suite,
            n_leaves,
            window,
            max_forward,
            MappingProxyType(nodes),
            _bucketed(ratchets),
        )

    def next_key(self, leaf: int, kind: RatchetKind) -> tuple[RatchetKey, SecretTree]:
        """The key for the next message this member sends from ``leaf``."""
        ratchet, tree = self._ratchet(leaf, kind)
        return tree._take(leaf, kind, ratchet, ratchet.generation)

    def key_for(
        self, leaf: int, kind: RatchetKind, generation: int
    ) -> tuple[RatchetKey, SecretTree]:
        """The key for a received message from ``leaf`` at ``generation``.

        Raises ``GenerationError`` if that generation was used already, fell out of the
        out-of-order window, or lies more than ``max_forward_distance`` ahead.
        """
        if not 0 <= generation <= MAX_GENERATION:
            raise GenerationError(f"generation {generation} is not a uint32")
        ratchet, tree = self._ratchet(leaf, kind)
        return tree._take(leaf, kind, ratchet, generation)

    def _take(
        self, leaf: int, kind: RatchetKind, ratchet: _Ratchet, generation: int
    ) -> tuple[RatchetKey, SecretTree]:
        if generation < ratchet.generation:
            key = ratchet.skipped.get(generation)
            if key is None:
                raise GenerationError(
                    f"generation {generation} of leaf {leaf} was already used or is older than "
                    f"the out-of-order window of {self.out_of_order_window}"
                )
            skipped = {g: k for g, k in ratchet.skipped.items() if g != generation}
            kept = _Ratchet(ratchet.generation, ratchet.secret, _frozen(skipped))
            return key, self._with_ratchet(leaf, kind, kept)
        if generation - ratchet.generation > self.max_forward_distance:
            raise GenerationError(
                f"generation {generation} of leaf {leaf} is more than "
                f"{self.max_forward_distance} ahead of {ratchet.generation}"
            )
        if ratchet.generation > MAX_GENERATION:
            raise GenerationError(f"the ratchet of leaf {leaf} is exhausted")
        oldest_kept = generation - self.out_of_order_window
        skipped = {g: k for g, k in ratchet.skipped.items() if g >= oldest_kept}
        secret = ratchet.secret
        for g in range(ratchet.generation, generation):
            if g >= oldest_kept:
                skipped[g] = self._derive_key(secret, g)
            secret = self._next_secret(secret, g)
        key = self._derive_key(secret, generation)
        advanced = _Ratchet(generation + 1, self._next_secret(secret, generation), _frozen(skipped))
        return key, self._with_ratchet(leaf, kind, advanced)

    def _derive_key(self, secret: bytes, generation: int) -> RatchetKey:
        suite = self.suite
        return RatchetKey(
            generation,
            suite.derive_tree_secret(secret, b"key", generation, suite.aead_key_len),
            suite.derive_tree_secret(secret, b"nonce", generation, suite.aead_nonce_len),
        )

    def _next_secret(self, secret: bytes, generation: int) -> bytes:
        return self.suite.derive_tree_secret(secret, b"secret", generation, self.suite.hash_len)

    def _with_ratchet(self, leaf: int, kind: RatchetKind, ratchet: _Ratchet) -> SecretTree:
        return self._evolved(self._nodes, leaf, {kind: ratchet})

    def _evolved(
        self,
        nodes: MappingProxyType[int, bytes],
        leaf: int,
        ratchets: Mapping[RatchetKind, _Ratchet],
    ) -> SecretTree:
        """This tree with ``nodes`` as its frontier and ``leaf``'s ``ratchets`` replaced."""
        index = leaf >> _BUCKET_BITS
        old = self._ratchets.get(index)
        bucket = {} if old is None else old.copy()
        for kind, ratchet in ratchets.items():
            bucket[(leaf, kind)] = ratchet
        buckets = self._ratchets.copy()
        buckets[index] = MappingProxyType(bucket)
        # Built directly rather than with dataclasses.replace, which costs several times more
        # and runs for every message sent or received.
        return SecretTree(
            self.suite,
            self.n_leaves,
            self.out_of_order_window,
            self.max_forward_distance,
            nodes,
            MappingProxyType(buckets),
        )

    def _ratchet(self, leaf: int, kind: RatchetKind) -> tuple[_Ratchet, SecretTree]:
        """The leaf's ratchet, deriving the path down to the leaf on first use."""
        if not 0 <= leaf < self.n_leaves:
            raise UnknownSender(f"leaf {leaf} is outside a tree of {self.n_leaves} leaves")
        bucket = self._ratchets.get(leaf >> _BUCKET_BITS)
        existing = None if bucket is None else bucket.get((leaf, kind))
        if existing is not None:
            return existing, self
        target = tm.leaf_node(leaf)
        nodes = self._nodes.copy()
        # Until its ratchets exist, exactly one ancestor-or-self of the leaf is on the frontier.
        node = next(x for x in [target, *tm.direct_path(target, self.n_leaves)] if x in nodes)
        suite = self.suite
        secret = nodes.pop(node)
        while node != target:
            left, right = tm.left(node), tm.right(node)
            left_secret = suite.expand_with_label(secret, b"tree", b"left", suite.hash_len)
            right_secret = suite.expand_with_label(secret, b"tree", b"right", suite.hash_len)
            if target < node:
                node, secret, nodes[right] = left, left_secret, right_secret
            else:
                node, secret, nodes[left] = right, right_secret, left_secret
        ratchets = {
            k: _Ratchet(0, suite.expand_with_label(secret, k.value, b"", suite.hash_len))
            for k in RatchetKind
        }
        return ratchets[kind], self._evolved(MappingProxyType(nodes), leaf, ratchets)


_KIND_CODES = {RatchetKind.HANDSHAKE: 1, RatchetKind.APPLICATION: 2}
_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


def _ratchet_order(item: tuple[tuple[int, RatchetKind], _Ratchet]) -> tuple[int, int]:
    (leaf, kind), _ = item
    return leaf, _KIND_CODES[kind]


def _write_node(w: Writer, item: tuple[int, bytes]) -> None:
    w.u32(item[0]).opaque(item[1])


def _read_node(r: Reader) -> tuple[int, bytes]:
    return r.u32(), r.opaque()


def _write_key(w: Writer, key: RatchetKey) -> None:
    w.u32(key.generation).opaque(key.key).opaque(key.nonce)


def _read_key(r: Reader) -> RatchetKey:
    return RatchetKey(r.u32(), r.opaque(), r.opaque())


def _write_ratchet(w: Writer, item: tuple[tuple[int, RatchetKind], _Ratchet]) -> None:
    (leaf, kind), ratchet = item
    w.u32(leaf).u8(_KIND_CODES[kind]).u64(ratchet.generation).opaque(ratchet.secret)
    w.vector(sorted(ratchet.skipped.values(), key=lambda k: k.generation), _write_key)


def _read_ratchet(r: Reader) -> tuple[tuple[int, RatchetKind], _Ratchet]:
    leaf, code = r.u32(), r.u8()
    kind = _KINDS.get(code)
    if kind is None:
        raise DecodeError(f"unknown ratchet kind {code}")
    # u64: an exhausted ratchet's next generation is 2^32, one past the last uint32.
    generation, secret = r.u64(), r.opaque()
    skipped = {key.generation: key for key in r.vector(_read_key)}
    return (leaf, kind), _Ratchet(generation, secret, _frozen(skipped))
