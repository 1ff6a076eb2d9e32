"""The Node driver on its own: two ts-mls members, so interop failures are not driver bugs."""

from __future__ import annotations

import pytest

from tests.interop.members import TsCandidate
from tests.interop.ts_driver import TsMls, TsMlsRejected


@pytest.mark.parametrize("public", [False, True], ids=["PrivateMessage", "PublicMessage"])
def test_two_ts_mls_members_share_epochs_messages_and_removal(ts_mls: TsMls, public: bool) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(b"driver-self-test", public=public)
    bob_candidate = TsCandidate(ts_mls, "bob")
    added = alice.add([bob_candidate.key_package], tree_in_welcome=False)
    assert added.welcome is not None
    bob = bob_candidate.join(added.welcome, added.ratchet_tree, public=public)
    assert (bob.epoch, bob.epoch_authenticator) == (alice.epoch, alice.epoch_authenticator)
    assert bob.roster() == alice.roster() == {0: "alice", 1: "bob"}

    assert bob.process(alice.encrypt(b"hi bob")).application == b"hi bob"
    assert alice.process(bob.update().message).application is None
    assert alice.export(b"label", b"", 16) == bob.export(b"label", b"", 16)

    removal = alice.remove([bob.own_leaf])
    assert bob.process(removal.message).removed_self
    with pytest.raises(TsMlsRejected):
        bob.process(alice.encrypt(b"after removal"))


def test_driver_reports_ts_mls_errors_without_dying(ts_mls: TsMls) -> None:
    alice = TsCandidate(ts_mls, "alice").create_group(b"g", public=False)
    with pytest.raises(TsMlsRejected, match="process"):
        alice.process(b"\x00\x01\x00\x02garbage")
    assert alice.epoch == 0
