from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sottovoce.client.e2ee_errors import (
    KeySourceUnavailable,
    KeystoreCorrupted,
    KeystoreError,
    KeystoreExists,
    KeystoreNotFound,
    WrongStoreKey,
)
from sottovoce.client.identity import DeviceKeys, IdentityKeyPair
from sottovoce.client.keysources import (
    Argon2Params,
    KeyFileKey,
    KeyringKey,
    PassphraseKey,
    system_keyring,
)
from sottovoce.client.keystore import Keystore, Table
from sottovoce.client.trust import TrustRecord
from tests.unit.keyring_double import DictKeyring

# Cheap argon2 costs keep the suite fast; one test below uses the real defaults.
FAST = Argon2Params(time_cost=1, memory_kib=1024, parallelism=1)
CANARY = "canary-7f3e9b2c41d8"
ALICE = "@alice:example.org"


def passphrase(text: str = "correct horse battery staple") -> PassphraseKey:
    return PassphraseKey(text, FAST)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(path: Path) -> Iterator[Keystore]:
    with Keystore.create(path, passphrase()) as opened:
        yield opened


def file_bytes(path: Path) -> bytes:
    """The database and whatever SQLite keeps beside it."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_records_survive_closing_and_reopening(path: Path) -> None:
    identity = IdentityKeyPair.generate()
    keys = DeviceKeys.create(identity, ALICE, "AAAAAAAAAAAA")
    with Keystore.create(path, passphrase()) as store:
        store.save_identity(ALICE, identity)
        store.save_device_keys(keys)
        store.put(Table.GROUPS, "!room:example.org", b"group state")
    with Keystore.open(path, passphrase()) as store:
        assert store.load_identity() == (ALICE, identity)
        assert store.load_device_keys() == keys
        assert store.get(Table.GROUPS, "!room:example.org") == b"group state"
        assert store.get(Table.GROUPS, "!other:example.org") is None


def test_a_wrong_passphrase_does_not_open_the_store(path: Path) -> None:
    Keystore.create(path, passphrase()).close()
    with pytest.raises(WrongStoreKey):
        Keystore.open(path, passphrase("wrong horse"))


def test_the_default_argon2id_costs_work(path: Path) -> None:
    Keystore.create(path, PassphraseKey("a passphrase")).close()
    Keystore.open(path, PassphraseKey("a passphrase")).close()
    with pytest.raises(WrongStoreKey):
        Keystore.open(path, PassphraseKey("another passphrase"))


def test_a_store_is_opened_only_with_the_kind_of_key_that_protects_it(
    path: Path, tmp_path: Path
) -> None:
    Keystore.create(path, passphrase()).close()
    with pytest.raises(KeySourceUnavailable):
        Keystore.open(path, KeyFileKey(tmp_path / "store.key"))


def test_opening_a_missing_store_does_not_create_one(path: Path) -> None:
    with pytest.raises(KeystoreNotFound):
        Keystore.open(path, passphrase())
    assert not path.exists()


def test_creating_over_an_existing_store_is_refused(path: Path) -> None:
    with Keystore.create(path, passphrase()) as store:
        store.put(Table.CURSORS, "room", b"41")
    with pytest.raises(KeystoreExists):
        Keystore.create(path, passphrase("another"))
    with Keystore.open(path, passphrase()) as store:
        assert store.get(Table.CURSORS, "room") == b"41"


def test_a_file_that_is_not_a_store_is_reported(path: Path) -> None:
    path.write_bytes(b"this is not SQLite at all, just some bytes" * 10)
    with pytest.raises(KeystoreCorrupted):
        Keystore.open(path, passphrase())


def test_neither_values_nor_record_names_are_readable_in_the_file(path: Path) -> None:
    store = Keystore.create(path, passphrase())
    store.put(Table.GROUPS, f"!{CANARY}:example.org", f"state {CANARY}".encode())
    store.save_trust(TrustRecord(f"@{CANARY}:example.org", b"k" * 32, first_seen=1))
    assert CANARY.encode() not in file_bytes(path)
    store.close()
    assert CANARY.encode() not in file_bytes(path)


def test_replaced_and_deleted_records_do_not_linger_in_the_file(path: Path) -> None:
    store = Keystore.create(path, passphrase())
    store.put(Table.GROUPS, "room", b"epoch 1 secrets")
    store.put(Table.GROUPS, "gone", b"deleted secrets")
    with sqlite3.connect(path) as raw:
        old = [bytes(v) for (v,) in raw.execute("SELECT value FROM records")]
    raw.close()
    store.put(Table.GROUPS, "room", b"epoch 2 secrets")
    assert store.delete(Table.GROUPS, "gone")
    assert not store.delete(Table.GROUPS, "gone")
    store.close()
    content = file_bytes(path)
    assert all(sealed not in content for sealed in old)


def tamper(path: Path, sql: str) -> None:
    raw = sqlite3.connect(path)
    with raw:
        raw.execute(sql)
    raw.close()


def test_values_swapped_between_records_are_detected(path: Path) -> None:
    with Keystore.create(path, passphrase()) as store:
        store.put(Table.TRUST, "a", b"trusted key of a")
        store.put(Table.TRUST, "b", b"trusted key of b")
    raw = sqlite3.connect(path)
    with raw:
        (id_a, sealed_a), (id_b, sealed_b) = raw.execute("SELECT id, value FROM records")
        raw.execute("UPDATE records SET value = ? WHERE id = ?", (sealed_b, id_a))
        raw.execute("UPDATE records SET value = ? WHERE id = ?", (sealed_a, id_b))
    raw.close()
    with Keystore.open(path, passphrase()) as store:
        for key in ("a", "b"):
            with pytest.raises(KeystoreCorrupted):
                store.get(Table.TRUST, key)


def test_a_record_moved_to_another_table_is_detected(path: Path) -> None:
    with Keystore.create(path, passphrase()) as store:
        store.put(Table.GROUPS, "x", b"value")
    tamper(path, "UPDATE records SET tbl = 'cursors'")
    with Keystore.open(path, passphrase()) as store, pytest.raises(KeystoreCorrupted):
        store.items(Table.CURSORS)


def test_a_flipped_bit_in_a_value_is_detected(path: Path) -> None:
    with Keystore.create(path, passphrase()) as store:
        store.put(Table.GROUPS, "x", b"value")
    raw = sqlite3.connect(path)
    with raw:
        (sealed,) = raw.execute("SELECT value FROM records").fetchone()
        flipped = bytes(sealed[:20]) + bytes([sealed[20] ^ 1]) + bytes(sealed[21:])
        raw.execute("UPDATE records SET value = ?", (flipped,))
    raw.close()
    with Keystore.open(path, passphrase()) as store, pytest.raises(KeystoreCorrupted):
        store.get(Table.GROUPS, "x")


def test_tampered_argon2_costs_are_refused_before_any_work(path: Path) -> None:
    Keystore.create(path, passphrase()).close()
    huge = Argon2Params(time_cost=1, memory_kib=1 << 30, parallelism=1).to_bytes()
    tamper(path, f"UPDATE header SET value = x'{huge.hex()}' WHERE name = 'argon2'")
    with pytest.raises(KeySourceUnavailable):
        Keystore.open(path, passphrase())


def test_items_lists_a_table_by_key(store: Keystore) -> None:
    for key in ("b", "a", "c"):
        store.put(Table.CURSORS, key, key.encode())
    store.put(Table.GROUPS, "z", b"other table")
    assert store.items(Table.CURSORS) == [("a", b"a"), ("b", b"b"), ("c", b"c")]


def test_a_failed_transaction_writes_nothing(store: Keystore) -> None:
    store.put(Table.GROUPS, "room", b"epoch 1")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put(Table.GROUPS, "room", b"epoch 2")
        tx.put(Table.CURSORS, "room", b"7")
        assert tx.get(Table.GROUPS, "room") == b"epoch 2"
        raise RuntimeError("processing the next message failed")
    assert store.get(Table.GROUPS, "room") == b"epoch 1"
    assert store.get(Table.CURSORS, "room") is None


def test_transactions_do_not_nest(store: Keystore) -> None:
    with store.transaction(), pytest.raises(KeystoreError):
        store.put(Table.GROUPS, "room", b"x")
    store.put(Table.GROUPS, "room", b"y")
    assert store.get(Table.GROUPS, "room") == b"y"


CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from sottovoce.client.keysources import KeyFileKey
    from sottovoce.client.keystore import Keystore, Table

    store = Keystore.open(Path(sys.argv[1]), KeyFileKey(Path(sys.argv[2])))
    with store.transaction() as tx:
        tx.put(Table.CURSORS, "room", b"after")
        # Far more than SQLite's page cache, so uncommitted pages reach the WAL file.
        for i in range(1000):
            tx.put(Table.GROUPS, f"group {i}", os.urandom(4096))
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_process_killed_inside_a_transaction_leaves_the_previous_state(
    path: Path, tmp_path: Path
) -> None:
    key = KeyFileKey(tmp_path / "store.key")
    with Keystore.create(path, key) as store:
        store.put(Table.CURSORS, "room", b"before")
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(path), str(key.path)],
        capture_output=True,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()
    with Keystore.open(path, key) as store:
        assert store.get(Table.CURSORS, "room") == b"before"
        assert store.items(Table.GROUPS) == []
        store.put(Table.CURSORS, "room", b"after restart")
        assert store.get(Table.CURSORS, "room") == b"after restart"


async def test_threads_can_share_one_store(store: Keystore) -> None:
    async def write(i: int) -> None:
        await asyncio.to_thread(store.put, Table.GROUPS, f"room {i}", str(i).encode())

    await asyncio.gather(*(write(i) for i in range(50)))
    values = await asyncio.to_thread(store.items, Table.GROUPS)
    assert sorted(int(v) for _, v in values) == list(range(50))


def test_the_store_file_is_private_to_its_owner(path: Path) -> None:
    Keystore.create(path, passphrase()).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_without_passphrase_the_key_lives_in_a_private_file_with_a_warning(
    path: Path, tmp_path: Path
) -> None:
    key = KeyFileKey(tmp_path / "store.key")
    with Keystore.create(path, key) as store:
        store.put(Table.CURSORS, "room", b"1")
    assert stat.S_IMODE(key.path.stat().st_mode) == 0o600
    assert str(key.path) in key.warning and "WARNING" in key.warning
    with Keystore.open(path, KeyFileKey(key.path)) as store:
        assert store.get(Table.CURSORS, "room") == b"1"


def test_a_key_file_readable_by_others_is_refused(path: Path, tmp_path: Path) -> None:
    key = KeyFileKey(tmp_path / "store.key")
    Keystore.create(path, key).close()
    os.chmod(key.path, 0o644)
    with pytest.raises(KeySourceUnavailable, match="chmod 600"):
        Keystore.open(path, key)


def test_a_second_store_reuses_the_profiles_key_file(tmp_path: Path) -> None:
    key = KeyFileKey(tmp_path / "store.key")
    Keystore.create(tmp_path / "one.db", key).close()
    Keystore.create(tmp_path / "two.db", key).close()
    Keystore.open(tmp_path / "one.db", key).close()
    Keystore.open(tmp_path / "two.db", key).close()


def test_a_keyring_key_is_random_and_kept_by_the_keyring(path: Path) -> None:
    keyring = DictKeyring()
    with Keystore.create(path, KeyringKey("alice@server", keyring)) as store:
        store.put(Table.CURSORS, "room", b"1")
    assert len(keyring.entries) == 1
    with Keystore.open(path, KeyringKey("alice@server", keyring)) as store:
        assert store.get(Table.CURSORS, "room") == b"1"
    with pytest.raises(KeySourceUnavailable):
        Keystore.open(path, KeyringKey("alice@server", DictKeyring()))


def test_without_a_usable_keyring_the_keyring_source_says_so(path: Path) -> None:
    if system_keyring() is not None:
        pytest.skip("this machine has a usable OS keyring")
    with pytest.raises(KeySourceUnavailable, match="passphrase"):
        Keystore.create(path, KeyringKey("alice@server"))


def test_trust_records_round_trip(store: Keystore) -> None:
    record = TrustRecord(ALICE, b"k" * 32, first_seen=5, verified=True)
    store.save_trust(record)
    assert store.load_trust(ALICE) == record
    assert store.all_trust() == [record]
    assert store.load_trust("@bob:example.org") is None


def test_changing_the_passphrase_keeps_every_record(path: Path, tmp_path: Path) -> None:
    with Keystore.create(path, KeyFileKey(tmp_path / "store.key")) as store:
        store.put(Table.GROUPS, "room", b"state")
        store.save_trust(TrustRecord(ALICE, b"k" * 32, first_seen=1))
        store.change_key(passphrase("new passphrase"))
        assert store.get(Table.GROUPS, "room") == b"state"
    with pytest.raises(KeySourceUnavailable):
        Keystore.open(path, KeyFileKey(tmp_path / "store.key"))
    with pytest.raises(WrongStoreKey):
        Keystore.open(path, passphrase("old passphrase"))
    with Keystore.open(path, passphrase("new passphrase")) as store:
        assert store.get(Table.GROUPS, "room") == b"state"
        assert [r.user_id for r in store.all_trust()] == [ALICE]
