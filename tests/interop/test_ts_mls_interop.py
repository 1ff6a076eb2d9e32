"""Sottovoce's MLS library and ts-mls 1.6.4 in the same groups, exchanging only wire bytes.

Cipher suite 1 (X25519, AES-128-GCM, SHA-256, Ed25519), basic credentials. Every test ends
with all members agreeing on the epoch, the epoch authenticator, an exported secret and the
roster; `pytest -s` prints which operations crossed in which direction.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from sottovoce.mls import MLSError
from tests.interop.matrix import Matrix
from tests.interop.members import Candidate, Member, PyCandidate, TsCandidate
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
    # Python's add commits carry a path, ts-mls's add-only commits never do.
    operation = "add (with path)" if committer.implementation == "python" else "add (no path)"
    matrix.deliver(operation, committer, out.message, others)
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


def mixed_pair(ts_mls: TsMls, matrix: Matrix, public: bool) -> tuple[Member, Member]:
    alice = PyCandidate("alice").create_group(GROUP_ID, public=public)
    (bob,) = add(matrix, alice, [], [TsCandidate(ts_mls, "bob")], public=public)
    return alice, bob


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
    members = [alice, bob, dave, erin]
    assert_agree(members)
    exchange_messages(matrix, members)


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


@pytest.mark.xfail(strict=True, raises=MLSError, reason=TS_MLS_EXTERNAL_PUB)
def test_python_member_reads_the_group_info_ts_mls_itself_sends(ts_mls: TsMls) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(GROUP_ID, public=False)
    PyCandidate("carol").join_external(alice.group_info_as_ts_mls_sends_it(), public=False)


# -- a longer life ----------------------------------------------------------------------------

EPOCHS = 20


@pytest.mark.parametrize("seed", [1, 2])
def test_mixed_group_agrees_on_every_epoch_under_random_operations(
    ts_mls: TsMls, matrix: Matrix, seed: int
) -> None:
    rng = random.Random(seed)
    names = (f"m{i}" for i in range(1000))

    def fresh() -> Candidate:
        return candidate(ts_mls, rng.choice(["python", "ts-mls"]), next(names))

    founder = PyCandidate(next(names)).create_group(GROUP_ID, public=rng.random() < 0.5)
    members: list[Member] = [founder]
    members += add(matrix, founder, [], [TsCandidate(ts_mls, next(names))], public=True)
    members += add(matrix, members[1], [founder], [fresh()], public=False)

    for _ in range(EPOCHS):
        committer = rng.choice(members)
        others = [m for m in members if m is not committer]
        if rng.random() < 0.5:
            matrix.deliver(
                "update (commit with path)", committer, committer.update().message, others
            )
        else:
            removed = rng.choice(others)
            newcomer = fresh()
            out = committer.remove([removed.own_leaf], add=[newcomer.key_package])
            matrix.deliver(
                "add + remove (commit with path)",
                committer,
                out.message,
                [m for m in others if m is not removed],
            )
            assert out.welcome is not None
            joined = matrix.join(committer, newcomer, out.welcome, None, public=rng.random() < 0.5)
            members = [*(m for m in members if m is not removed), joined]
        assert_agree(members)
        sender = rng.choice(members)
        delivered = matrix.deliver(
            "application",
            sender,
            sender.encrypt(b"epoch %d" % sender.epoch),
            [m for m in members if m is not sender],
        )
        assert {d.application for d in delivered} == {b"epoch %d" % sender.epoch}
