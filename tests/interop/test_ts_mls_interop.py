"""Sottovoce's MLS library and ts-mls 1.6.4 in the same groups, exchanging only wire bytes.

Cipher suite 1 (X25519, AES-128-GCM, SHA-256, Ed25519), basic credentials. Every test ends
with all members agreeing on the epoch, the epoch authenticator, an exported secret and the
roster; `pytest -s` prints which operations crossed in which direction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import pytest

from sottovoce.mls._codec import serialize
from sottovoce.mls._tree_structs import Extension, ExtensionType, RequiredCapabilities
from sottovoce.mls.errors import CryptoError, InvalidCommit, InvalidWelcome
from tests.interop.matrix import Matrix
from tests.interop.members import (
    Candidate,
    CommitOut,
    Member,
    PyCandidate,
    PyMember,
    TsCandidate,
    TsMember,
)
from tests.interop.ts_driver import TsMls, TsMlsRejected

WIRE_FORMATS = pytest.mark.parametrize(
    "public", [False, True], ids=["PrivateMessage", "PublicMessage"]
)
GROUP_ID = b"sottovoce-interop"


def assert_agree(members: Sequence[Member]) -> None:
    first = members[0]
    for other in members[1:]:
        where = f"{other.name} ({other.implementation}) vs {first.name} ({first.implementation})"
        assert other.epoch == first.epoch, where
        assert other.epoch_authenticator == first.epoch_authenticator, where
        assert other.export(b"interop", b"check", 32) == first.export(b"interop", b"check", 32)
        assert other.roster() == first.roster(), where


def add_operation(committer: Member) -> str:
    # Python's add commits carry a path, ts-mls's add-only commits never do.
    return "add (with path)" if committer.implementation == "python" else "add (no path)"


def add(
    matrix: Matrix,
    committer: Member,
    others: Sequence[Member],
    candidates: Sequence[Candidate],
    *,
    public: bool,
    tree_out_of_band: bool = False,
) -> list[Member]:
    """``committer`` adds ``candidates`` in one commit, everyone follows, the new members join."""
    out = committer.add([c.key_package for c in candidates], tree_in_welcome=not tree_out_of_band)
    matrix.deliver(add_operation(committer), committer, out.message, others)
    assert out.welcome is not None
    tree = out.ratchet_tree if tree_out_of_band else None
    return [matrix.join(committer, c, out.welcome, tree, public=public) for c in candidates]


def exchange_messages(matrix: Matrix, members: Sequence[Member]) -> None:
    for sender in members:
        text = f"from {sender.name} in epoch {sender.epoch}".encode()
        readers = [m for m in members if m is not sender]
        delivered = matrix.deliver("application", sender, sender.encrypt(text), readers)
        assert [d.application for d in delivered] == [text] * len(readers)


def candidate(ts_mls: TsMls, implementation: str, name: str) -> Candidate:
    return TsCandidate(ts_mls, name) if implementation == "ts-mls" else PyCandidate(name)


def mixed_pair(ts_mls: TsMls, matrix: Matrix, public: bool) -> tuple[Member, Member]:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=public)
    return alice, bob


# -- application messages ---------------------------------------------------------------------


def test_application_messages_are_read_out_of_order_both_ways(
    ts_mls: TsMls, matrix: Matrix
) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public=False)
    for sender, reader in [(alice, bob), (bob, alice)]:
        texts = [b"message %d" % i for i in range(6)]
        ciphertexts = [sender.encrypt(text) for text in texts]
        for i in [3, 0, 5, 2, 1, 4]:
            (delivered,) = matrix.deliver(
                "application, out of order", sender, ciphertexts[i], [reader]
            )
            assert delivered.application == texts[i]


def test_authenticated_data_is_carried_both_ways(ts_mls: TsMls, matrix: Matrix) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public=False)
    message = bob.encrypt(b"from ts-mls", authenticated_data=b"room=1")
    (delivered,) = matrix.deliver("application with authenticated data", bob, message, [alice])
    assert (delivered.application, delivered.authenticated_data) == (b"from ts-mls", b"room=1")
    # ts-mls does not hand the authenticated data back, but decrypting authenticates it.
    message = alice.encrypt(b"from python", authenticated_data=b"room=2")
    (delivered,) = matrix.deliver("application with authenticated data", alice, message, [bob])
    assert delivered.application == b"from python"


# -- joining --------------------------------------------------------------------------------


@WIRE_FORMATS
def test_ts_mls_member_joins_a_group_created_in_python(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=public)
    assert_agree([alice, bob])
    exchange_messages(matrix, [alice, bob])


@WIRE_FORMATS
@pytest.mark.parametrize("tree_out_of_band", [False, True], ids=["tree-in-welcome", "tree-apart"])
def test_python_member_joins_a_group_created_in_ts_mls(
    ts_mls: TsMls, matrix: Matrix, public: bool, tree_out_of_band: bool
) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(GROUP_ID, public=public)
    (bob,) = add(
        matrix, alice, [], [PyCandidate("bob")], public=public, tree_out_of_band=tree_out_of_band
    )
    assert_agree([alice, bob])
    exchange_messages(matrix, [alice, bob])


def test_ts_mls_member_joins_with_the_python_tree_given_out_of_band(
    ts_mls: TsMls, matrix: Matrix
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=False)
    (bob,) = add(matrix, alice, [], [PyCandidate("bob")], public=False)
    (carol,) = add(
        matrix, alice, [bob], [TsCandidate(ts_mls, "carol")], public=False, tree_out_of_band=True
    )
    assert_agree([alice, bob, carol])


# -- commits between established members ----------------------------------------------------


@WIRE_FORMATS
def test_self_update_commits_are_followed_both_ways(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public)
    for committer, follower in [(alice, bob), (bob, alice), (bob, alice), (alice, bob)]:
        out = committer.update()
        matrix.deliver("update (commit with path)", committer, out.message, [follower])
        assert_agree([alice, bob])
        exchange_messages(matrix, [alice, bob])


@WIRE_FORMATS
def test_adds_are_followed_both_ways(ts_mls: TsMls, matrix: Matrix, public: bool) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public)
    # ts-mls adds (its add-only commits carry no path), then Python adds (always with path).
    (carol,) = add(matrix, bob, [alice], [PyCandidate("carol")], public=public)
    (dave,) = add(matrix, alice, [bob, carol], [TsCandidate(ts_mls, "dave")], public=public)
    members = [alice, bob, carol, dave]
    assert_agree(members)
    exchange_messages(matrix, members)


@WIRE_FORMATS
def test_python_add_without_path_is_followed_by_ts_mls(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=public)
    carol_candidate = TsCandidate(ts_mls, "carol")
    out = alice.add_without_path([carol_candidate.key_package])
    matrix.deliver("add (no path)", alice, out.message, [bob])
    assert out.welcome is not None
    carol = matrix.join(alice, carol_candidate, out.welcome, None, public=public)
    assert_agree([alice, bob, carol])
    exchange_messages(matrix, [alice, bob, carol])


@WIRE_FORMATS
def test_removes_are_followed_both_ways(ts_mls: TsMls, matrix: Matrix, public: bool) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public)
    carol, dave, erin = add(
        matrix,
        alice,
        [bob],
        [PyCandidate("carol"), TsCandidate(ts_mls, "dave"), TsCandidate(ts_mls, "erin")],
        public=public,
    )
    # Python removes a ts-mls member, then ts-mls removes a Python member.
    for committer, removed, rest in [
        (alice, dave, [bob, carol, erin]),
        (bob, carol, [alice, erin]),
    ]:
        out = committer.remove([removed.own_leaf])
        (gone,) = matrix.deliver("remove (commit with path)", committer, out.message, [removed])
        assert gone.removed_self
        matrix.deliver("remove (commit with path)", committer, out.message, rest)
        assert_agree([committer, *rest])
        exchange_messages(matrix, [committer, *rest])


@WIRE_FORMATS
def test_add_and_remove_in_one_commit_with_path_both_ways(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public)
    (carol,) = add(matrix, alice, [bob], [TsCandidate(ts_mls, "carol")], public=public)
    members: list[Member] = [alice, bob, carol]
    rounds: list[tuple[Member, Member, Candidate]] = [
        (bob, carol, PyCandidate("dave")),
        (alice, bob, TsCandidate(ts_mls, "erin")),
    ]
    for committer, removed, newcomer in rounds:
        out = committer.remove([removed.own_leaf], add=[newcomer.key_package])
        rest = [m for m in members if m is not committer and m is not removed]
        matrix.deliver("add + remove (commit with path)", committer, out.message, rest)
        assert out.welcome is not None
        joined = matrix.join(committer, newcomer, out.welcome, None, public=public)
        members = [*(m for m in members if m is not removed), joined]
        assert_agree(members)
        exchange_messages(matrix, members)


@pytest.mark.parametrize(
    ("committer", "removed"),
    [
        pytest.param("ts-mls", "python"),
        pytest.param(
            "python",
            "ts-mls",
            marks=pytest.mark.xfail(
                strict=True,
                raises=TsMlsRejected,
                reason="ts-mls 1.6.4 applyProposals also tests for a blank own leaf "
                "(selfRemoved), which the commit's Add refilled",
            ),
        ),
    ],
)
def test_member_removed_by_a_commit_that_refills_its_leaf_learns_it_was_removed(
    ts_mls: TsMls, matrix: Matrix, committer: str, removed: str
) -> None:
    alice = candidate(ts_mls, committer, "alice").create_group(GROUP_ID, public=False)
    (bob,) = add(matrix, alice, [], [candidate(ts_mls, removed, "bob")], public=False)
    # The Add takes the leftmost blank leaf: the one the Remove just emptied, bob's.
    out = alice.remove([bob.own_leaf], add=[candidate(ts_mls, removed, "carol").key_package])
    (gone,) = matrix.deliver("add + remove, told to the removed", alice, out.message, [bob])
    assert gone.removed_self


def test_member_removed_by_python_cannot_read_the_next_epoch_in_ts_mls(
    ts_mls: TsMls, matrix: Matrix
) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public=False)
    bob.process(alice.remove([bob.own_leaf]).message)
    with pytest.raises(TsMlsRejected):
        bob.process(alice.encrypt(b"not for bob"))


# -- proposals by reference and external joins ------------------------------------------------


@WIRE_FORMATS
def test_proposals_by_reference_are_committed_by_the_other_library(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice, bob = mixed_pair(ts_mls, matrix, public)
    carol, dave = add(
        matrix, alice, [bob], [PyCandidate("carol"), TsCandidate(ts_mls, "dave")], public=public
    )
    # ts-mls proposes removing a Python member; Python commits the proposal by reference.
    proposal = bob.propose_remove(carol.own_leaf)
    matrix.deliver("remove proposal", bob, proposal, [alice, carol, dave])
    out = alice.update()
    (gone,) = matrix.deliver("commit of proposals by ref", alice, out.message, [carol])
    assert gone.removed_self
    matrix.deliver("commit of proposals by ref", alice, out.message, [bob, dave])
    assert_agree([alice, bob, dave])

    # Python proposes adding a ts-mls member; ts-mls commits the proposal by reference.
    erin_candidate = TsCandidate(ts_mls, "erin")
    proposal = alice.propose_add(erin_candidate.key_package)
    matrix.deliver("add proposal", alice, proposal, [bob, dave])
    out = dave.update()
    matrix.deliver("commit of proposals by ref", dave, out.message, [alice, bob])
    assert out.welcome is not None
    erin = matrix.join(dave, erin_candidate, out.welcome, None, public=public)
    assert_agree([alice, bob, dave, erin])

    # Python proposes removing a ts-mls member; ts-mls commits the proposal by reference.
    proposal = alice.propose_remove(dave.own_leaf)
    matrix.deliver("remove proposal", alice, proposal, [bob, dave, erin])
    out = erin.update()
    (gone,) = matrix.deliver("commit of proposals by ref", erin, out.message, [dave])
    assert gone.removed_self
    matrix.deliver("commit of proposals by ref", erin, out.message, [alice, bob])
    members = [alice, bob, erin]
    assert_agree(members)
    exchange_messages(matrix, members)


@WIRE_FORMATS
def test_python_update_proposal_is_committed_by_ts_mls(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    bob, carol = add(
        matrix, alice, [], [TsCandidate(ts_mls, "bob"), TsCandidate(ts_mls, "carol")], public=public
    )
    matrix.deliver("update proposal", alice, alice.propose_update(), [bob, carol])
    out = bob.update()
    matrix.deliver("commit of proposals by ref", bob, out.message, [alice, carol])
    members = [alice, bob, carol]
    assert_agree(members)
    exchange_messages(matrix, members)


@WIRE_FORMATS
def test_group_context_extensions_committed_by_python_are_followed_by_ts_mls(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=public)
    # required_capabilities asking for nothing: every member supports it by default.
    required = Extension(ExtensionType.REQUIRED_CAPABILITIES, serialize(RequiredCapabilities()))
    proposal = alice.group.propose_extensions((required,))
    matrix.deliver("group_context_extensions proposal", alice, proposal, [bob])
    matrix.deliver("commit of proposals by ref", alice, alice.update().message, [bob])
    assert_agree([alice, bob])
    exchange_messages(matrix, [alice, bob])


@WIRE_FORMATS
def test_external_psks_are_mixed_in_by_either_library(
    ts_mls: TsMls, matrix: Matrix, public: bool
) -> None:
    psks = {b"shared psk": bytes(range(32))}
    alice = PyCandidate("alice", psks).create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob", psks)], public=public)
    assert isinstance(bob, TsMember)
    proposal = alice.propose_external_psk(b"shared psk")
    matrix.deliver("psk proposal", alice, proposal, [bob])
    matrix.deliver("commit of proposals by ref", alice, alice.update().message, [bob])
    assert_agree([alice, bob])
    matrix.deliver("commit with psk", bob, bob.commit_psk(b"shared psk").message, [alice])
    assert_agree([alice, bob])
    exchange_messages(matrix, [alice, bob])


@pytest.mark.parametrize(
    "with_remove",
    [
        pytest.param(
            False,
            marks=pytest.mark.xfail(
                strict=True,
                raises=InvalidCommit,
                reason="ts-mls 1.6.4 sends a group_context_extensions commit without the "
                "UpdatePath RFC 9420 section 12.4 requires (LukaJCB/ts-mls#742)",
            ),
        ),
        pytest.param(
            True,
            marks=pytest.mark.xfail(
                strict=True,
                raises=CryptoError,
                reason="ts-mls 1.6.4 encrypts the path secrets under the GroupContext without "
                "the new extensions (LukaJCB/ts-mls#742)",
            ),
        ),
    ],
    ids=["extensions-only", "with-remove"],
)
def test_group_context_extensions_committed_by_ts_mls_are_followed_by_python(
    ts_mls: TsMls, matrix: Matrix, with_remove: bool
) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(GROUP_ID, public=False)
    bob, carol = add(
        matrix, alice, [], [PyCandidate("bob"), TsCandidate(ts_mls, "carol")], public=False
    )
    assert isinstance(alice, TsMember)
    out = alice.commit_extensions(remove=[carol.own_leaf] if with_remove else [])
    operation = "group_context_extensions commit" + (" + remove" if with_remove else "")
    matrix.deliver(operation, alice, out.message, [bob])
    assert_agree([alice, bob])


def test_python_member_joins_a_ts_mls_group_by_external_commit(
    ts_mls: TsMls, matrix: Matrix
) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(GROUP_ID, public=False)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=False)
    carol, commit = matrix.join_external(alice, PyCandidate("carol"), public=False)
    matrix.deliver("external commit", carol, commit, [alice, bob])
    members = [alice, bob, carol]
    assert_agree(members)
    exchange_messages(matrix, members)


TS_MLS_EXTERNAL_PUB = (
    "ts-mls 1.6.4 writes and reads external_pub as the bare HPKE key, not the ExternalPub "
    "struct (opaque<V>) of RFC 9420 section 12.4.3.2; LukaJCB/ts-mls#449 changes that upstream"
)


@pytest.mark.xfail(strict=True, raises=TsMlsRejected, reason=TS_MLS_EXTERNAL_PUB)
def test_ts_mls_member_joins_a_python_group_by_external_commit(
    ts_mls: TsMls, matrix: Matrix
) -> None:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=False)
    (bob,) = add(matrix, alice, [], [PyCandidate("bob")], public=False)
    carol, commit = matrix.join_external(alice, TsCandidate(ts_mls, "carol"), public=False)
    matrix.deliver("external commit", carol, commit, [alice, bob])
    assert_agree([alice, bob, carol])


@pytest.mark.xfail(strict=True, raises=InvalidWelcome, reason=TS_MLS_EXTERNAL_PUB)
def test_python_member_reads_the_group_info_ts_mls_itself_sends(ts_mls: TsMls) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(GROUP_ID, public=False)
    PyCandidate("carol").join_external(alice.group_info_as_ts_mls_sends_it(), public=False)


# -- a longer life ----------------------------------------------------------------------------

EPOCHS = 20


class MixedGroup:
    """Members of both libraries under seeded random operations, one commit per epoch."""

    def __init__(self, ts_mls: TsMls, matrix: Matrix, seed: int) -> None:
        self.ts_mls = ts_mls
        self.matrix = matrix
        self.rng = random.Random(seed)
        self._names = (f"m{i}" for i in range(10_000))
        founder = PyCandidate(next(self._names)).create_group(GROUP_ID, public=self.coin())
        self.members: list[Member] = [founder]
        first = self.fresh("ts-mls")
        self.commit(founder, "add (with path)", founder.add([first.key_package]), [], [first])

    def coin(self) -> bool:
        return self.rng.random() < 0.5

    def fresh(self, implementation: str | None = None) -> Candidate:
        chosen = implementation or self.rng.choice(["python", "ts-mls"])
        return candidate(self.ts_mls, chosen, next(self._names))

    def others(self, member: Member) -> list[Member]:
        return [m for m in self.members if m is not member]

    def commit(
        self,
        committer: Member,
        operation: str,
        out: CommitOut,
        removed: Sequence[Member],
        newcomers: Sequence[Candidate],
    ) -> None:
        """Deliver ``out`` to everyone, check the removed see it, let the newcomers join."""
        staying = [m for m in self.others(committer) if m not in removed]
        self.matrix.deliver(operation, committer, out.message, staying)
        # A newcomer takes a removed member's leaf; neither library then notices it was
        # removed (see test_member_removed_by_a_commit_that_refills_its_leaf_...).
        if not newcomers:
            for gone in self.matrix.deliver(operation, committer, out.message, removed):
                assert gone.removed_self
        self.members = [committer, *staying]
        for newcomer in newcomers:
            assert out.welcome is not None
            tree = out.ratchet_tree if self.coin() else None
            self.members.append(
                self.matrix.join(committer, newcomer, out.welcome, tree, public=self.coin())
            )
        assert_agree(self.members)

    def update(self, committer: Member) -> None:
        self.commit(committer, "update (commit with path)", committer.update(), [], [])

    def add(self, committer: Member, count: int) -> None:
        newcomers = [self.fresh() for _ in range(count)]
        out = committer.add([n.key_package for n in newcomers])
        self.commit(committer, add_operation(committer), out, [], newcomers)

    def remove(self, committer: Member, count: int) -> None:
        removed = self.rng.sample(self.others(committer), count)
        out = committer.remove([m.own_leaf for m in removed])
        self.commit(committer, "remove (commit with path)", out, removed, [])

    def remove_by_proposal(self, committer: Member) -> None:
        proposer, removed = self.rng.sample(self.others(committer), 2)
        proposal = proposer.propose_remove(removed.own_leaf)
        self.matrix.deliver("remove proposal", proposer, proposal, self.others(proposer))
        out = committer.update()
        self.commit(committer, "commit of proposals by ref", out, [removed], [])

    def replace(self, committer: Member) -> None:
        removed = self.rng.choice(self.others(committer))
        newcomer = self.fresh()
        out = committer.remove([removed.own_leaf], add=[newcomer.key_package])
        self.commit(committer, "add + remove (commit with path)", out, [removed], [newcomer])

    def step(self, *, min_size: int, max_size: int) -> None:
        """One random commit keeping the group between ``min_size`` and ``max_size``."""
        committer = self.rng.choice(self.members)
        size = len(self.members)
        steps: list[Callable[[], None]] = [lambda: self.update(committer)]
        if size < max_size:
            steps.append(lambda: self.add(committer, self.rng.randint(1, max_size - size)))
        if size > min_size:
            steps.append(lambda: self.remove(committer, self.rng.randint(1, size - min_size)))
        if size > min_size and size >= 3:
            steps.append(lambda: self.remove_by_proposal(committer))
        if size >= 2:
            steps.append(lambda: self.replace(committer))
        self.rng.choice(steps)()
        for member in self.members:
            if isinstance(member, PyMember) and self.rng.random() < 0.25:
                member.reload()

    def message(self) -> None:
        sender = self.rng.choice(self.members)
        text = b"epoch %d from %s" % (sender.epoch, sender.name.encode())
        delivered = self.matrix.deliver(
            "application", sender, sender.encrypt(text), self.others(sender)
        )
        assert [d.application for d in delivered] == [text] * len(delivered)


@pytest.mark.parametrize("seed", [1, 2])
def test_three_member_mixed_group_agrees_on_every_epoch_under_random_operations(
    ts_mls: TsMls, matrix: Matrix, seed: int
) -> None:
    group = MixedGroup(ts_mls, matrix, seed)
    while len(group.members) < 3:
        group.step(min_size=2, max_size=3)
    for _ in range(EPOCHS):
        group.step(min_size=3, max_size=3)
        group.message()
    assert len(group.members) == 3


@pytest.mark.parametrize("seed", [3, 4])
def test_growing_and_shrinking_mixed_group_agrees_on_every_epoch(
    ts_mls: TsMls, matrix: Matrix, seed: int
) -> None:
    group = MixedGroup(ts_mls, matrix, seed)
    for _ in range(EPOCHS):
        group.step(min_size=2, max_size=7)
        group.message()
