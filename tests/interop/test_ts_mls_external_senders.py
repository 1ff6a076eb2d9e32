"""Proposals from an external sender (RFC 9420 section 12.1.8.1) in a group with a ts-mls
1.6.4 member: the Python members accept them; ts-mls does not, because it reads the
``external_senders`` extension as one bare ExternalSender per extension instead of the RFC's
``ExternalSender external_senders<V>`` vector."""

from __future__ import annotations

import pytest

from sottovoce.mls import (
    Credential,
    ExternalSender,
    Group,
    GroupConfig,
    ProposalReceived,
    accept_any_credential,
    external_remove_proposal,
    external_senders_extension,
    generate_key_package,
    parse_key_package,
)
from sottovoce.mls._suite import get_suite
from tests.interop.ts_driver import TsMls, TsMlsRejected

CONFIG = GroupConfig(accept_any_credential)


@pytest.mark.xfail(
    strict=True,
    raises=TsMlsRejected,
    reason="ts-mls 1.6.4 decodes external_senders as a single ExternalSender, not a vector",
)
def test_external_remove_reaches_python_and_ts_mls_members(ts_mls: TsMls) -> None:
    ds_priv, ds_pub = get_suite(1).generate_signature_key_pair()
    extension = external_senders_extension([ExternalSender(ds_pub, Credential.basic(b"ds"))])
    alice = Group.create(b"external-senders", generate_key_package(b"alice"), CONFIG, (extension,))
    bob_key_package = bytes.fromhex(ts_mls.call("key_package", member="bob")["key_package"])
    carol = generate_key_package(b"carol")
    out = alice.commit(add=[parse_key_package(bob_key_package), carol.key_package])
    alice.merge_pending_commit()
    assert out.welcome is not None
    ts_mls.call("join", member="bob", welcome=out.welcome.hex())
    proposal = external_remove_proposal(alice.group_info(), 0, ds_priv, 2)
    assert isinstance(alice.process(proposal), ProposalReceived)
    ts_mls.call("process", member="bob", message=proposal.hex())
    commit = alice.commit()
    alice.merge_pending_commit()
    state = ts_mls.call("process", member="bob", message=commit.message.hex())
    assert bytes.fromhex(state["epoch_authenticator"]) == alice.epoch_authenticator
    assert [m["identity"] for m in state["members"]] == ["alice", "bob"]
