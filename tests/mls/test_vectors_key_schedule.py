"""key-schedule.json: every epoch's secrets, exporter, external key and init-secret chain."""

from __future__ import annotations

from typing import Any

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._key_schedule import derive_epoch_secrets, export_secret, external_key_pair
from sottovoce.mls._suite import CipherSuite, get_suite

from .vectors import hexb, load, split_by_suite, summary

FILE = "key-schedule.json"

SECRETS = (
    "joiner_secret",
    "welcome_secret",
    "sender_data_secret",
    "encryption_secret",
    "exporter_secret",
    "external_secret",
    "confirmation_key",
    "membership_key",
    "resumption_psk",
    "epoch_authenticator",
    "init_secret",
)


def check_case(suite: CipherSuite, case: dict[str, Any]) -> int:
    init_secret = hexb(case["initial_init_secret"])
    for index, epoch in enumerate(case["epochs"]):
        where = f"epoch {index}"
        context = GroupContext(
            cipher_suite=suite.suite_id,
            group_id=hexb(case["group_id"]),
            epoch=index,
            tree_hash=hexb(epoch["tree_hash"]),
            confirmed_transcript_hash=hexb(epoch["confirmed_transcript_hash"]),
        )
        group_context = serialize(context)
        assert group_context == hexb(epoch["group_context"]), f"{where}: group_context"
        assert decode_all(group_context, GroupContext.decode) == context, f"{where}: decode"
        secrets = derive_epoch_secrets(
            suite,
            init_secret,
            hexb(epoch["commit_secret"]),
            hexb(epoch["psk_secret"]),
            group_context,
        )
        for name in SECRETS:
            assert getattr(secrets, name) == hexb(epoch[name]), f"{where}: {name}"
        _, external_pub = external_key_pair(suite, secrets.external_secret)
        assert external_pub == hexb(epoch["external_pub"]), f"{where}: external_pub"
        exporter = epoch["exporter"]
        # The exporter label is a text string in this file, even though it looks like hex.
        exported = export_secret(
            suite,
            secrets.exporter_secret,
            exporter["label"].encode(),
            hexb(exporter["context"]),
            exporter["length"],
        )
        assert exported == hexb(exporter["secret"]), f"{where}: exporter"
        init_secret = secrets.init_secret
    return len(case["epochs"])


def test_key_schedule_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    epochs = sum(check_case(get_suite(case["cipher_suite"]), case) for case in cases)
    assert epochs > 1, "the init_secret chain needs more than one epoch"
    print(summary(FILE, len(cases), skipped))
