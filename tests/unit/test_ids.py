from __future__ import annotations

import os
import re
import uuid

import pytest

from sottovoce.core.errors import BadRequest, InvalidUsername
from sottovoce.core.ids import (
    DEVICE_ID,
    new_client_id,
    new_device_id,
    new_event_id,
    new_room_id,
    normalize_localpart,
    parse_room_id,
    parse_user_id,
    uuid7,
)


def test_usernames_are_lowercased_and_may_carry_a_leading_at() -> None:
    assert normalize_localpart("@Alice") == "alice"


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "émile", "a:b"])
def test_invalid_usernames_are_refused_with_their_code(bad: str) -> None:
    with pytest.raises(InvalidUsername):
        normalize_localpart(bad)


def test_room_ids_carry_the_server_name_and_parse_back() -> None:
    room = new_room_id("chat.example.org")
    assert room.endswith(":chat.example.org")
    assert parse_room_id(room) == room


@pytest.mark.parametrize("bad", ["alice", "@alice", "@Alice:x", "@a:"])
def test_malformed_user_ids_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest):
        parse_user_id(bad)


def test_device_ids_are_twelve_uppercase_characters() -> None:
    assert DEVICE_ID.fullmatch(new_device_id())


OPAQUE = "Ab0_-" * 4 + "zZ"


@pytest.mark.parametrize(
    "room", [f"!{OPAQUE}:localhost", f"!{OPAQUE}:chat.example.org:8448", f"!{OPAQUE}:" + "a" * 253]
)
def test_room_ids_with_a_server_name_and_port(room: str) -> None:
    assert parse_room_id(room) == room


@pytest.mark.parametrize(
    "bad",
    [
        "",
        f"{OPAQUE}:localhost",
        f"@{OPAQUE}:localhost",
        f"!{OPAQUE}",
        f"!{OPAQUE}:",
        f"!{OPAQUE[:-1]}:localhost",
        f"!{OPAQUE}A:localhost",
        f"!{OPAQUE[:-1]}::localhost",
        f"!{OPAQUE[:-1]}=:localhost",
        f"!{OPAQUE}:local_host",
        f"!{OPAQUE}:localhost:",
        f"!{OPAQUE}:localhost:123456",
        f"!{OPAQUE}:localhost:80:80",
        f"!{OPAQUE}:localhost\n",
        f"!{OPAQUE}:localhost:８０",
        f"!{OPAQUE}:" + "a" * 254,
        f"!{OPAQUE[:-1]}é:localhost",
    ],
)
def test_malformed_room_ids_are_bad_requests(bad: str) -> None:
    with pytest.raises(BadRequest, match=r"^not a room id: .* \(expected !id:server\)$"):
        parse_room_id(bad)


EVENT_ID = re.compile(r"\$[A-Za-z0-9_-]{22}")


def test_event_ids_are_22_base64url_characters_and_never_repeat() -> None:
    drawn = [new_event_id() for _ in range(10_000)]
    assert all(EVENT_ID.fullmatch(event_id) for event_id in drawn)
    assert len(set(drawn)) == len(drawn)
    # Every character position takes all 64 values: the bits are random, not padding.
    assert all(len({event_id[i] for event_id in drawn}) == 64 for i in range(1, 23))


def test_a_forked_child_draws_other_event_ids_than_its_parent() -> None:
    new_event_id()  # the batch the child inherits
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, "".join(new_event_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        in_child = pipe.read().decode()
    os.waitpid(child, 0)
    in_parent = "".join(new_event_id() for _ in range(3))
    assert len(in_child) == len(in_parent) == 69
    assert {in_child[i : i + 23] for i in range(0, 69, 23)}.isdisjoint(
        {in_parent[i : i + 23] for i in range(0, 69, 23)}
    )


def test_uuid7_matches_the_example_of_rfc_9562() -> None:
    # Appendix A.6: 2022-02-22T14:22:22-05:00, rand_a 0xCC3, rand_b 0x18C4DC0C0C07398F.
    random = bytes.fromhex("0cc3") + bytes.fromhex("18c4dc0c0c07398f")
    assert uuid7(0x017F22E279B0, random) == "017f22e2-79b0-7cc3-98c4-dc0c0c07398f"


def test_uuid7_keeps_version_and_variant_whatever_the_random_bits() -> None:
    parsed = uuid.UUID(uuid7(2**48 - 1, b"\xff" * 10))
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
    assert str(parsed).startswith("ffffffff-ffff-7fff-bfff")


def test_client_ids_rise_with_the_clock_so_one_device_appends_to_its_index() -> None:
    ids = [uuid7(ms, os.urandom(10)) for ms in (1, 2, 255, 256, 2**40)]
    assert ids == sorted(ids)
    fresh = new_client_id()
    assert uuid.UUID(fresh).version == 7 and len(fresh) == 36
