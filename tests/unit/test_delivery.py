"""The Delivery Service rules, fed real MLS messages and hostile bytes; no server involved."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.core.delivery import Header, admit, check_welcome, group_info_epoch, read_header
from sottovoce.core.errors import BadRequest, StaleEpoch
from sottovoce.mls import (
    Group,
    GroupConfig,
    accept_any_credential,
    generate_key_package,
    key_package_message,
)

ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:localhost"


def group(room: str = ROOM, *, encrypt_handshake: bool = True) -> Group:
    config = GroupConfig(accept_any_credential, encrypt_handshake=encrypt_handshake)
    return Group.create(room.encode(), generate_key_package(b"alice"), config)


@pytest.mark.parametrize("encrypt_handshake", [True, False])
def test_a_commit_is_read_as_a_commit_of_the_current_epoch(encrypt_handshake: bool) -> None:
    out = group(encrypt_handshake=encrypt_handshake).commit()
    assert read_header(ROOM, out.message) == Header(epoch=0, is_commit=True)


def test_an_application_message_is_read_with_its_epoch() -> None:
    g = group()
    g.commit()
    g.merge_pending_commit()
    assert read_header(ROOM, g.encrypt(b"hi")) == Header(epoch=1, is_commit=False)


def test_a_message_of_another_group_is_refused() -> None:
    body = group("!BBBBBBBBBBBBBBBBBBBBBB:localhost").encrypt(b"hi")
    with pytest.raises(BadRequest):
        read_header(ROOM, body)


def test_welcomes_and_key_packages_do_not_belong_in_a_timeline() -> None:
    g = group()
    out = g.commit(add=[generate_key_package(b"bob").key_package])
    assert out.welcome is not None
    for body in (out.welcome, key_package_message(generate_key_package(b"carol"))):
        with pytest.raises(BadRequest):
            read_header(ROOM, body)


def test_plaintext_bodies_are_refused() -> None:
    with pytest.raises(BadRequest):
        read_header(ROOM, b"hello, server")


PUBLIC_COMMIT = group(encrypt_handshake=False).commit().message


@given(st.integers(0, len(PUBLIC_COMMIT)), st.binary(max_size=64))
def test_damaged_messages_are_a_header_or_a_bad_request(cut: int, tail: bytes) -> None:
    # A real commit cut short and given a random tail reaches every depth of the decoder.
    with contextlib.suppress(BadRequest):
        read_header(ROOM, PUBLIC_COMMIT[:cut] + tail)


def test_the_first_commit_of_an_epoch_moves_the_room_on() -> None:
    assert admit(Header(4, is_commit=True), 4) == 5


def test_a_second_commit_for_the_same_epoch_is_stale_and_names_the_current_epoch() -> None:
    with pytest.raises(StaleEpoch) as caught:
        admit(Header(4, is_commit=True), 5)
    assert caught.value.to_dict()["epoch"] == 5


def test_application_messages_are_accepted_only_in_the_current_epoch() -> None:
    assert admit(Header(5, is_commit=False), 5) == 5
    for epoch in (4, 6):
        with pytest.raises(StaleEpoch):
            admit(Header(epoch, is_commit=False), 5)


def test_a_group_info_is_read_with_its_epoch_and_group() -> None:
    g = group()
    assert group_info_epoch(ROOM, g.group_info()) == 0
    with pytest.raises(BadRequest):
        group_info_epoch("!BBBBBBBBBBBBBBBBBBBBBB:localhost", g.group_info())
    with pytest.raises(BadRequest):
        group_info_epoch(ROOM, g.encrypt(b"not a group info"))


def test_only_an_mls_welcome_is_a_welcome() -> None:
    g = group()
    out = g.commit(add=[generate_key_package(b"bob").key_package])
    assert out.welcome is not None
    check_welcome(out.welcome)
    for body in (out.message, key_package_message(generate_key_package(b"carol")), b"hi", b""):
        with pytest.raises(BadRequest):
            check_welcome(body)
