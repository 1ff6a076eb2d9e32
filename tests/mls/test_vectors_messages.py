"""messages.json: every field of every entry decodes and re-encodes byte for byte."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sottovoce.mls._codec import Encodable, Reader, decode_all, serialize
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing_structs import MLSMessage, WireFormat
from sottovoce.mls._proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    ReInit,
    Remove,
    Update,
)
from sottovoce.mls._ratchet_tree import RatchetTree
from sottovoce.mls._welcome import GroupSecrets
from sottovoce.mls.errors import DecodeError
from tests.mls.vectors import hexb, load

FILE = "messages.json"


def _message(wire_format: WireFormat) -> Callable[[Reader], Encodable]:
    def read(r: Reader) -> Encodable:
        message = MLSMessage.decode(r)
        assert message.wire_format is wire_format
        return message

    return read


DECODERS: dict[str, Callable[[Reader], Encodable]] = {
    "mls_welcome": _message(WireFormat.WELCOME),
    "mls_group_info": _message(WireFormat.GROUP_INFO),
    "mls_key_package": _message(WireFormat.KEY_PACKAGE),
    "ratchet_tree": RatchetTree.decode,
    "group_secrets": GroupSecrets.decode,
    "add_proposal": Add.decode,
    "update_proposal": Update.decode,
    "remove_proposal": Remove.decode,
    "pre_shared_key_proposal": PreSharedKey.decode,
    "re_init_proposal": ReInit.decode,
    "external_init_proposal": ExternalInit.decode,
    "group_context_extensions_proposal": GroupContextExtensions.decode,
    "commit": Commit.decode,
    "public_message_application": _message(WireFormat.PUBLIC_MESSAGE),
    "public_message_proposal": _message(WireFormat.PUBLIC_MESSAGE),
    "public_message_commit": _message(WireFormat.PUBLIC_MESSAGE),
    "private_message": _message(WireFormat.PRIVATE_MESSAGE),
}


def test_every_message_field_round_trips_byte_identically() -> None:
    entries = load(FILE)
    for i, entry in enumerate(entries):
        assert set(entry) == set(DECODERS), f"entry {i} has fields this test does not check"
        for field, read in DECODERS.items():
            data = hexb(entry[field])
            assert serialize(decode_all(data, read)) == data, f"entry {i}: {field}"
    print(f"{FILE}: {len(entries)} cases passed, 0 skipped (the file is suite-independent)")


@pytest.mark.parametrize("field", ["mls_key_package", "commit", "private_message"])
def test_truncated_messages_are_rejected(field: str) -> None:
    data = hexb(load(FILE)[0][field])
    with pytest.raises(DecodeError):
        decode_all(data[:-1], DECODERS[field])
