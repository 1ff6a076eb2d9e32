"""Reinit and branch (RFC 9420 sections 11.2, 11.3) between Sottovoce's MLS library and ts-mls
1.6.4: either side starts the new group with a resumption PSK of the old one, the other joins
from the Welcome with its own copy of the old group, and both agree on the new epoch."""

from __future__ import annotations

from typing import Any

from sottovoce.mls import (
    Group,
    GroupConfig,
    KeyPackageBundle,
    accept_any_credential,
    generate_key_package,
    key_package_message,
    parse_key_package,
)
from sottovoce.mls._group import ApplicationMessage
from tests.interop.ts_driver import TsMls

CONFIG = GroupConfig(accept_any_credential)
OLD_GROUP = b"old-group"
NEW_GROUP = b"new-group"


def _mixed_group(ts_mls: TsMls) -> tuple[Group, str]:
    """Alice on Python creates the group and adds Bob on ts-mls."""
    alice = Group.create(OLD_GROUP, generate_key_package(b"alice"), CONFIG)
    key_package = bytes.fromhex(ts_mls.call("key_package", member="bob")["key_package"])
    out = alice.commit(add=[parse_key_package(key_package)])
    alice.merge_pending_commit()
    assert out.welcome is not None
    ts_mls.call("join", member="bob", welcome=out.welcome.hex())
    return alice, "bob"


def _assert_agree(group: Group, ts_state: dict[str, Any], identities: set[str]) -> None:
    assert ts_state["epoch"] == group.epoch == 1
    assert bytes.fromhex(ts_state["epoch_authenticator"]) == group.epoch_authenticator
    assert {m["identity"] for m in ts_state["members"]} == identities
    assert {c.identity.decode() for c in group.members().values()} == identities


def _talk(ts_mls: TsMls, group: Group, ts_name: str) -> None:
    to_ts = ts_mls.call("process", member=ts_name, message=group.encrypt(b"from python").hex())
    assert bytes.fromhex(to_ts["data"]) == b"from python"
    message = ts_mls.call("encrypt", member=ts_name, data=b"from ts-mls".hex())["message"]
    received = group.process(bytes.fromhex(message))
    assert isinstance(received, ApplicationMessage) and received.data == b"from ts-mls"


def _ts_resumption_key_package(ts_mls: TsMls, name: str) -> bytes:
    return bytes.fromhex(ts_mls.call("resumption_key_package", member=name)["key_package"])


def test_python_continues_a_reinit_committed_by_ts_mls(ts_mls: TsMls) -> None:
    alice, bob = _mixed_group(ts_mls)
    committed = ts_mls.call("reinit", member=bob, group_id=NEW_GROUP.hex())
    assert not committed["active"]
    alice.process(bytes.fromhex(committed["commit"]))
    bob_key_package = parse_key_package(_ts_resumption_key_package(ts_mls, bob))
    new_alice, out = alice.reinit_continue(generate_key_package(b"alice"), [bob_key_package])
    new_alice.merge_pending_commit()
    assert out.welcome is not None
    joined = ts_mls.call("join_resumed", member=bob, welcome=out.welcome.hex(), usage="reinit")
    assert new_alice.group_id == NEW_GROUP
    _assert_agree(new_alice, joined, {"alice", "bob"})
    _talk(ts_mls, new_alice, bob)


def test_ts_mls_continues_a_reinit_committed_by_python(ts_mls: TsMls) -> None:
    alice, bob = _mixed_group(ts_mls)
    ts_mls.call("process", member=bob, message=alice.propose_reinit(NEW_GROUP).hex())
    out = alice.commit(with_path=False)
    alice.merge_pending_commit()
    assert not ts_mls.call("process", member=bob, message=out.message.hex())["active"]
    _ts_resumption_key_package(ts_mls, bob)
    alice_next = generate_key_package(b"alice")
    started = ts_mls.call(
        "reinit_continue", member=bob, key_packages=[key_package_message(alice_next).hex()]
    )
    new_alice = _join(started, alice_next, alice)
    assert new_alice.group_id == NEW_GROUP
    _assert_agree(new_alice, started, {"alice", "bob"})
    _talk(ts_mls, new_alice, bob)


def _join(started: dict[str, Any], bundle: KeyPackageBundle, old: Group) -> Group:
    return Group.join(
        bytes.fromhex(started["welcome"]),
        bundle,
        CONFIG,
        bytes.fromhex(started["ratchet_tree"]),
        resumption_from=old,
    )


def test_python_branches_and_ts_mls_joins(ts_mls: TsMls) -> None:
    alice, bob = _mixed_group(ts_mls)
    carol = generate_key_package(b"carol")
    out = alice.commit(add=[carol.key_package])
    alice.merge_pending_commit()
    ts_mls.call("process", member=bob, message=out.message.hex())
    bob_key_package = parse_key_package(_ts_resumption_key_package(ts_mls, bob))
    sub, out = alice.branch(NEW_GROUP, generate_key_package(b"alice"), [bob_key_package])
    sub.merge_pending_commit()
    assert out.welcome is not None
    joined = ts_mls.call("join_resumed", member=bob, welcome=out.welcome.hex(), usage="branch")
    _assert_agree(sub, joined, {"alice", "bob"})
    _talk(ts_mls, sub, bob)


def test_ts_mls_branches_and_python_joins(ts_mls: TsMls) -> None:
    alice, bob = _mixed_group(ts_mls)
    _ts_resumption_key_package(ts_mls, bob)
    alice_next = generate_key_package(b"alice")
    started = ts_mls.call(
        "branch",
        member=bob,
        group_id=NEW_GROUP.hex(),
        key_packages=[key_package_message(alice_next).hex()],
    )
    sub = _join(started, alice_next, alice)
    assert sub.group_id == NEW_GROUP
    _assert_agree(sub, started, {"alice", "bob"})
    _talk(ts_mls, sub, bob)
