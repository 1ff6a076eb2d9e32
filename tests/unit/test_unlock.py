from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from sottovoce.client.e2ee_errors import KeySourceUnavailable, WrongStoreKey
from sottovoce.client.keysources import KeyringBackend
from sottovoce.client.keystore import Table, stored_key_kind
from sottovoce.client.unlock import KEY_FILE, STORE_FILE, open_profile_store
from tests.unit.keyring_double import DictKeyring


def no_keyring() -> KeyringBackend | None:
    return None


def answers(*replies: str) -> Callable[[str], str]:
    queue = list(replies)

    def prompt(question: str) -> str:
        return queue.pop(0)

    return prompt


def refuse_prompt(question: str) -> str:
    raise AssertionError(f"a scriptable open must not prompt ({question})")


def test_no_passphrase_keeps_a_key_file_and_always_warns(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    opened = open_profile_store(
        profile, no_passphrase=True, environ={}, prompt=refuse_prompt, keyring=no_keyring
    )
    opened.store.put(Table.CURSORS, "room", b"1")
    opened.store.close()
    assert opened.warning is not None and str(profile / KEY_FILE) in opened.warning
    assert stat.S_IMODE(profile.stat().st_mode) == 0o700
    again = open_profile_store(profile, environ={}, prompt=refuse_prompt, keyring=no_keyring)
    with again.store as store:
        assert store.get(Table.CURSORS, "room") == b"1"
    assert again.warning is not None


def test_the_environment_passphrase_wins_over_the_keyring(tmp_path: Path) -> None:
    keyring = DictKeyring()
    env = {"SOTTO_PASSPHRASE": "from the environment"}
    opened = open_profile_store(
        tmp_path, environ=env, prompt=refuse_prompt, keyring=lambda: keyring
    )
    opened.store.close()
    assert opened.warning is None
    assert keyring.entries == {}
    assert stored_key_kind(tmp_path / STORE_FILE) == "argon2id"
    # Later runs may type it instead, or give a wrong one.
    open_profile_store(
        tmp_path, environ={}, prompt=answers("from the environment"), keyring=no_keyring
    ).store.close()
    with pytest.raises(WrongStoreKey):
        open_profile_store(tmp_path, environ={"SOTTO_PASSPHRASE": "wrong"}, keyring=no_keyring)


def test_without_a_passphrase_in_the_environment_a_usable_keyring_is_used(
    tmp_path: Path,
) -> None:
    keyring = DictKeyring()
    opened = open_profile_store(tmp_path, environ={}, prompt=refuse_prompt, keyring=lambda: keyring)
    opened.store.put(Table.CURSORS, "room", b"2")
    opened.store.close()
    assert len(keyring.entries) == 1
    with open_profile_store(
        tmp_path, environ={}, prompt=refuse_prompt, keyring=lambda: keyring
    ).store as store:
        assert store.get(Table.CURSORS, "room") == b"2"


def test_otherwise_the_passphrase_is_typed_twice(tmp_path: Path) -> None:
    opened = open_profile_store(
        tmp_path, environ={}, prompt=answers("typed", "typed"), keyring=no_keyring
    )
    opened.store.close()
    open_profile_store(
        tmp_path, environ={}, prompt=answers("typed"), keyring=no_keyring
    ).store.close()


def test_two_different_passphrases_create_nothing(tmp_path: Path) -> None:
    with pytest.raises(KeySourceUnavailable, match="differ"):
        open_profile_store(tmp_path, environ={}, prompt=answers("one", "two"), keyring=no_keyring)
    assert stored_key_kind(tmp_path / STORE_FILE) is None
