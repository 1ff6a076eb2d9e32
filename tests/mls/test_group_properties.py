"""Any sequence of adds, removes, updates and empty commits, by any members, with or without
an UpdatePath, keeps every member in the same epoch with the same secrets."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sottovoce.mls._group import ApplicationMessage, Group
from tests.mls.group_helpers import add_members, assert_same_epoch, bundle, config, new_group

OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "update", "commit"]),
        st.integers(min_value=0, max_value=7),
        st.integers(min_value=0, max_value=7),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


def _deliver(message: bytes, members: list[Group], sender: Group) -> None:
    for member in members:
        if member is not sender:
            member.process(message)


def _step(members: list[Group], op: str, actor_pick: int, target_pick: int, path: bool) -> None:
    actor = members[actor_pick % len(members)]
    others = [m for m in members if m is not actor]
    if op == "add" and len(members) < 6:
        joiner = bundle(f"member-{len(members)}-{target_pick}")
        out = actor.commit(add=[joiner.key_package], with_path=path)
        actor.merge_pending_commit()
        _deliver(out.message, members, actor)
        assert out.welcome is not None
        members.append(Group.join(out.welcome, joiner, config()))
    elif op == "remove" and others:
        target = others[target_pick % len(others)]
        out = actor.commit(remove=[target.own_leaf])
        actor.merge_pending_commit()
        _deliver(out.message, members, actor)
        assert not target.active
        members.remove(target)
    elif op == "update" and others:
        proposer = others[target_pick % len(others)]
        _deliver(proposer.propose_update(), members, proposer)
        out = actor.commit()
        actor.merge_pending_commit()
        _deliver(out.message, members, actor)
    else:
        out = actor.commit(with_path=path)
        actor.merge_pending_commit()
        _deliver(out.message, members, actor)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_members_agree_after_any_sequence_of_operations(
    ops: list[tuple[str, int, int, bool]],
) -> None:
    alice = new_group()
    members = [alice, *add_members(alice, [], ["bob", "carol"])]
    for op in ops:
        _step(members, *op)
        assert_same_epoch(members)
        sender = members[-1]
        message = sender.encrypt(b"ping")
        for member in members:
            if member is not sender:
                assert member.process(message) == ApplicationMessage(sender.own_leaf, b"ping", b"")
