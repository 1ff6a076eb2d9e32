"""Shared driver for the passive-client vector files: join from the Welcome, then follow the
epochs, checking the epoch authenticator after each."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from sottovoce.mls._codec import decode_all
from sottovoce.mls._framing_structs import MLSMessage
from sottovoce.mls._group import CommitApplied, Group, ProposalReceived
from sottovoce.mls._group_state import GroupConfig, accept_any_credential
from sottovoce.mls._key_package import KeyPackage, KeyPackageBundle
from tests.mls.vectors import hexb, load, split_by_suite, summary


def run_passive_client(entry: dict[str, Any]) -> None:
    key_package = decode_all(hexb(entry["key_package"]), MLSMessage.decode).body
    assert isinstance(key_package, KeyPackage)
    bundle = KeyPackageBundle(
        key_package,
        init_priv=hexb(entry["init_priv"]),
        encryption_priv=hexb(entry["encryption_priv"]),
        signature_priv=hexb(entry["signature_priv"]),
    )
    psks = {hexb(p["psk_id"]): hexb(p["psk"]) for p in entry["external_psks"]}
    config = GroupConfig(
        accept_any_credential,
        external_psks=MappingProxyType(psks),
        # Vector key packages were made at a fixed time; lifetimes are not what is tested.
        clock=lambda: 1_700_000_000,
    )
    tree = entry["ratchet_tree"]
    group = Group.join(hexb(entry["welcome"]), bundle, config, None if tree is None else hexb(tree))
    assert group.epoch_authenticator == hexb(entry["initial_epoch_authenticator"])
    for n, epoch in enumerate(entry["epochs"]):
        for proposal in epoch["proposals"]:
            assert isinstance(group.process(hexb(proposal)), ProposalReceived)
        result = group.process(hexb(epoch["commit"]))
        assert isinstance(result, CommitApplied), f"epoch {n}"
        assert group.epoch_authenticator == hexb(epoch["epoch_authenticator"]), f"epoch {n}"


def run_file(name: str) -> None:
    entries, skipped = split_by_suite(load(name))
    for i, entry in enumerate(entries):
        try:
            run_passive_client(entry)
        except Exception as exc:
            raise AssertionError(f"{name} suite-1 entry {i}: {exc!r}") from exc
    print(summary(name, len(entries), skipped))
