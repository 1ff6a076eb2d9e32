"""message-protection.json: unprotect the given PublicMessages and PrivateMessages, and round-trip
our own protection of the same content, for every suite-1 entry."""

from __future__ import annotations

from typing import Any

import pytest

from sottovoce.mls._codec import decode_all, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing import (
    protect_private,
    protect_public,
    unprotect_private,
    unprotect_public,
)
from sottovoce.mls._framing_structs import (
    AuthenticatedContent,
    Content,
    FramedContent,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    Sender,
)
from sottovoce.mls._group_context import GroupContext
from sottovoce.mls._proposals import Proposal
from sottovoce.mls._secret_tree import SecretTree
from sottovoce.mls._suite import CipherSuite, get_suite
from sottovoce.mls.errors import ValidationError

from .vectors import hexb, load, split_by_suite, summary

FILE = "message-protection.json"
SENDER = 1  # every message in the file comes from leaf 1 of a two-member group


class Case:
    def __init__(self, suite: CipherSuite, raw: dict[str, Any]) -> None:
        self.suite = suite
        self.raw = raw
        self.context = GroupContext(
            cipher_suite=suite.suite_id,
            group_id=hexb(raw["group_id"]),
            epoch=raw["epoch"],
            tree_hash=hexb(raw["tree_hash"]),
            confirmed_transcript_hash=hexb(raw["confirmed_transcript_hash"]),
        )
        self.signature_priv = hexb(raw["signature_priv"])
        self.signature_pub = hexb(raw["signature_pub"])
        self.membership_key = hexb(raw["membership_key"])
        self.sender_data_secret = hexb(raw["sender_data_secret"])

    def signature_key(self, content: FramedContent) -> bytes:
        assert content.sender == Sender.member(SENDER)
        return self.signature_pub

    def secret_tree(self) -> SecretTree:
        return SecretTree.create(self.suite, hexb(self.raw["encryption_secret"]), 2)

    def framed(self, content: Content) -> FramedContent:
        return FramedContent(
            self.context.group_id, self.context.epoch, Sender.member(SENDER), b"", content
        )

    def unprotect_public(self, message: PublicMessage) -> AuthenticatedContent:
        return unprotect_public(
            self.suite, message, self.context, self.membership_key, self.signature_key
        )

    def unprotect_private(self, message: PrivateMessage) -> AuthenticatedContent:
        authenticated, _ = unprotect_private(
            self.suite,
            message,
            self.context,
            self.secret_tree(),
            self.sender_data_secret,
            self.signature_key,
        )
        return authenticated


def encoded(content: Content) -> bytes:
    return content if isinstance(content, bytes) else serialize(content)


def message_body(hex_message: str) -> object:
    return decode_all(hexb(hex_message), MLSMessage.decode).body


def check_public(case: Case, name: str) -> None:
    raw = hexb(case.raw[name])
    given = message_body(case.raw[f"{name}_pub"])
    assert isinstance(given, PublicMessage), f"{name}_pub is a PublicMessage"
    opened = case.unprotect_public(given)
    assert encoded(opened.content.content) == raw, f"{name}_pub content"

    ours = protect_public(
        case.suite,
        case.signature_priv,
        case.framed(opened.content.content),
        case.context,
        case.membership_key,
        opened.auth.confirmation_tag,
    )
    reopened = case.unprotect_public(decode_all(serialize(ours), PublicMessage.decode))
    assert encoded(reopened.content.content) == raw, f"{name}: own PublicMessage round trip"


def check_private(case: Case, name: str) -> None:
    raw = hexb(case.raw[name])
    given = message_body(case.raw[f"{name}_priv"])
    assert isinstance(given, PrivateMessage), f"{name}_priv is a PrivateMessage"
    opened = case.unprotect_private(given)
    assert encoded(opened.content.content) == raw, f"{name}_priv content"

    ours, _ = protect_private(
        case.suite,
        case.signature_priv,
        case.framed(opened.content.content),
        case.context,
        case.secret_tree(),
        case.sender_data_secret,
        confirmation_tag=opened.auth.confirmation_tag,
    )
    reopened = case.unprotect_private(decode_all(serialize(ours), PrivateMessage.decode))
    assert encoded(reopened.content.content) == raw, f"{name}: own PrivateMessage round trip"


def check_case(case: Case) -> None:
    assert isinstance(decode_all(hexb(case.raw["proposal"]), Proposal.decode), Proposal)
    assert isinstance(decode_all(hexb(case.raw["commit"]), Commit.decode), Commit)
    for name in ("proposal", "commit"):
        check_public(case, name)
        check_private(case, name)
    with pytest.raises(ValidationError):
        protect_public(
            case.suite,
            case.signature_priv,
            case.framed(hexb(case.raw["application"])),
            case.context,
            case.membership_key,
        )
    check_private(case, "application")


def test_message_protection_vectors_pass_for_suite_1() -> None:
    cases, skipped = split_by_suite(load(FILE))
    assert cases, f"{FILE} has no suite-1 entries"
    for raw in cases:
        check_case(Case(get_suite(raw["cipher_suite"]), raw))
    print(summary(FILE, len(cases), skipped))
