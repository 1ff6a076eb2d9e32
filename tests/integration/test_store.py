"""The Store contract, run unchanged against a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from sottovoce.core.delivery import Header
from sottovoce.core.errors import (
    Forbidden,
    InvalidInviteCode,
    NotFound,
    ReplayedMessage,
    StaleEpoch,
    UserExists,
)
from sottovoce.core.models import (
    Device,
    Event,
    EventKind,
    InviteCode,
    MembershipChange,
    MemberState,
    NewEvent,
    NewMail,
    RefreshToken,
    Role,
    Room,
    RoomKind,
    User,
)
from sottovoce.store import Store, open_store, sql
from sottovoce.store.base import Append
from sottovoce.store.groupcommit import GroupCommit
from sottovoce.store.tables import metadata

NOW = 1_700_000_000_000
ROOM = "!AAAAAAAAAAAAAAAAAAAAAA:test"


async def add_user(store: Store, name: str, devices: int = 1) -> list[str]:
    """Create ``@name:test`` with devices ``NAME1``, ``NAME2``…; return the device ids."""
    user_id = f"@{name}:test"
    await store.create_user(User(user_id, "hash", False, False, NOW), None, NOW)
    device_ids = [f"{name.upper()}{n}" for n in range(1, devices + 1)]
    for device_id in device_ids:
        await store.create_device(Device(device_id, user_id, "phone", NOW, NOW, False))
    return device_ids


def new_event(client_id: str, device: str = "ALICE1", body: bytes | None = None) -> NewEvent:
    # By default each message is its own bytes, as MLS makes them: the same bytes under another
    # client_id would be a replay, which the store refuses for MLS messages.
    return NewEvent(
        ROOM,
        f"${client_id}-{device}",
        EventKind.MESSAGE,
        "@alice:test",
        device,
        client_id,
        f"ciphertext {device} {client_id}".encode() if body is None else body,
        NOW,
    )


async def room_of_alice(store: Store, devices: int = 1) -> Event:
    await add_user(store, "alice", devices)
    room = Room(ROOM, RoomKind.GROUP, "general", "@alice:test", NOW, 0)
    first = NewEvent(ROOM, "$create", EventKind.MEMBER, "@alice:test", "ALICE1", "c", b"{}", NOW)
    owner = MembershipChange("@alice:test", Role.OWNER, MemberState.JOINED)
    return await store.create_room(room, first, owner)


def token(hash_: bytes, family: str = "fam", device: str = "ALICE1") -> RefreshToken:
    return RefreshToken(hash_, device, family, None, NOW + 1000)


def mail(device: str, body: bytes, user: str = "@bob:test") -> NewMail:
    return NewMail(user, device, "@alice:test", "ALICE1", "mls.welcome", body, NOW)


# Schema ---------------------------------------------------------------------------------------
async def test_migrations_build_exactly_the_schema_the_code_uses(database_url: str) -> None:
    await (await open_store(database_url)).close()
    # Opening again finds the schema at head and changes nothing.
    await (await open_store(database_url)).close()

    def differences(conn: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(conn), metadata))

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_nodes_starting_together_migrate_once_and_all_open(database_url: str) -> None:
    stores = await asyncio.gather(*(open_store(database_url) for _ in range(4)))
    await add_user(stores[0], "alice")
    for opened in stores:
        assert await opened.get_user("@alice:test") is not None
        await opened.close()


@pytest.mark.parametrize(
    "url", ["mysql://db/chat", "sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"]
)
async def test_open_store_refuses_databases_it_cannot_serve(url: str) -> None:
    with pytest.raises(ValueError):
        await open_store(url)


async def test_ping_answers_when_the_database_is_up(store: Store) -> None:
    await store.ping()


# Accounts -------------------------------------------------------------------------------------
async def test_a_taken_username_is_refused(store: Store) -> None:
    await add_user(store, "alice")
    with pytest.raises(UserExists):
        await store.create_user(User("@alice:test", "other", True, False, NOW), None, NOW)
    stored = await store.get_user("@alice:test")
    assert stored == User("@alice:test", "hash", False, False, NOW)


async def test_an_invite_code_is_used_up_by_the_users_it_admits(store: Store) -> None:
    await store.create_invite_code(InviteCode("code", 1, None, NOW))
    await store.create_user(User("@bob:test", "h", False, False, NOW), "code", NOW)
    with pytest.raises(InvalidInviteCode):
        await store.create_user(User("@carol:test", "h", False, False, NOW), "code", NOW)
    assert await store.get_user("@bob:test") is not None
    assert await store.get_user("@carol:test") is None


async def test_an_expired_or_unknown_invite_code_admits_nobody(store: Store) -> None:
    await store.create_invite_code(InviteCode("old", 5, NOW, NOW - 10))
    for code in ("old", "never-issued"):
        with pytest.raises(InvalidInviteCode):
            await store.create_user(User("@bob:test", "h", False, False, NOW), code, NOW)
    assert await store.list_users() == []


async def test_a_refused_sign_up_does_not_use_up_the_invite_code(store: Store) -> None:
    await add_user(store, "alice")
    await store.create_invite_code(InviteCode("code", 1, None, NOW))
    with pytest.raises(UserExists):
        await store.create_user(User("@alice:test", "h", False, False, NOW), "code", NOW)
    await store.create_user(User("@bob:test", "h", False, False, NOW), "code", NOW)


async def test_concurrent_sign_ups_get_no_more_than_the_invite_codes_uses(store: Store) -> None:
    await store.create_invite_code(InviteCode("code", 3, None, NOW + 1))
    results = await asyncio.gather(
        *(
            store.create_user(User(f"@u{n}:test", "h", False, False, NOW), "code", NOW)
            for n in range(12)
        ),
        return_exceptions=True,
    )
    assert Counter(type(result).__name__ for result in results) == {
        "NoneType": 3,
        "InvalidInviteCode": 9,
    }
    assert len(await store.list_users()) == 3


async def test_password_and_disabled_flag_change_only_existing_users(store: Store) -> None:
    await add_user(store, "alice")
    assert await store.set_password_hash("@alice:test", "new")
    assert not await store.set_password_hash("@nobody:test", "new")
    assert not await store.set_user_disabled("@nobody:test", True)
    user = await store.get_user("@alice:test")
    assert user is not None and user.password_hash == "new"


async def test_disabling_a_user_revokes_every_device_and_its_tokens(store: Store) -> None:
    devices = await add_user(store, "alice", devices=2)
    for n, device in enumerate(devices):
        await store.add_refresh_token(token(bytes([n]) * 32, device=device))
    assert await store.set_user_disabled("@alice:test", True)
    assert await store.list_devices("@alice:test") == []
    assert all(d.revoked for d in await store.list_devices("@alice:test", include_revoked=True))
    assert await store.rotate_refresh_token(b"\0" * 32, token(b"n" * 32), NOW) is None
    assert await store.set_user_disabled("@alice:test", False)
    user = await store.get_user("@alice:test")
    assert user is not None and not user.disabled
    # Enabling the account again does not bring revoked devices back.
    assert await store.list_devices("@alice:test") == []


# Devices and refresh tokens ------------------------------------------------------------------
async def test_revoking_a_device_deletes_its_tokens_key_packages_and_mail(store: Store) -> None:
    await add_user(store, "alice")
    bob_phone, bob_laptop = await add_user(store, "bob", devices=2)
    await store.add_refresh_token(token(b"t" * 32, device=bob_phone))
    await store.add_key_packages(bob_phone, [b"kp"], b"last")
    await store.put_mail([mail(bob_phone, b"hello"), mail(bob_laptop, b"hello")])

    assert await store.revoke_device(bob_phone)
    assert not await store.revoke_device("NOSUCHDEVICE")

    phone = await store.get_device(bob_phone)
    assert phone is not None and phone.revoked
    assert [d.device_id for d in await store.list_devices("@bob:test")] == [bob_laptop]
    assert await store.rotate_refresh_token(b"t" * 32, token(b"n" * 32), NOW) is None
    assert await store.count_key_packages(bob_phone) == (0, False)
    assert await store.mail_after(bob_phone, 0, 10) == []
    assert len(await store.mail_after(bob_laptop, 0, 10)) == 1
    assert await store.claim_key_packages("@bob:test") == []


async def test_revoked_among_names_the_revoked_and_unknown_devices_in_chunks(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "DEVICES_PER_QUERY", 2)
    phones = await add_user(store, "bob", devices=5)
    await store.revoke_device(phones[1])
    await store.revoke_device(phones[4])

    assert await store.revoked_among([*phones, "NOSUCHDEVICE"]) == {
        phones[1],
        phones[4],
        "NOSUCHDEVICE",
    }
    assert await store.revoked_among([phones[0], phones[2]]) == set()
    assert await store.revoked_among([]) == set()


async def test_touching_a_device_only_moves_last_seen_forward(store: Store) -> None:
    (device,) = await add_user(store, "alice")
    await store.touch_device(device, NOW + 50)
    await store.touch_device(device, NOW + 10)
    seen = await store.get_device(device)
    assert seen is not None and seen.last_seen_at == NOW + 50
    assert await store.get_device("NOSUCHDEVICE") is None


async def test_rotation_returns_the_old_record_and_the_new_token_rotates_next(
    store: Store,
) -> None:
    await add_user(store, "alice")
    await store.add_refresh_token(token(b"a" * 32))
    assert await store.rotate_refresh_token(b"a" * 32, token(b"b" * 32), NOW) == token(b"a" * 32)
    assert await store.rotate_refresh_token(b"b" * 32, token(b"c" * 32), NOW) == token(b"b" * 32)


async def test_presenting_a_rotated_token_again_writes_nothing(store: Store) -> None:
    await add_user(store, "alice")
    await store.add_refresh_token(token(b"a" * 32))
    await store.rotate_refresh_token(b"a" * 32, token(b"b" * 32), NOW)

    reused = await store.rotate_refresh_token(b"a" * 32, token(b"x" * 32), NOW + 5)
    assert reused == RefreshToken(b"a" * 32, "ALICE1", "fam", NOW, NOW + 1000)
    assert await store.rotate_refresh_token(b"x" * 32, token(b"y" * 32), NOW) is None


async def test_rotation_into_another_family_writes_nothing(store: Store) -> None:
    await add_user(store, "alice")
    await store.add_refresh_token(token(b"a" * 32))
    probe = token(b"p" * 32, family="probe")
    assert await store.rotate_refresh_token(b"a" * 32, probe, NOW) == token(b"a" * 32)
    assert await store.rotate_refresh_token(b"p" * 32, token(b"q" * 32), NOW) is None
    # The token itself is still unused.
    assert await store.rotate_refresh_token(b"a" * 32, token(b"b" * 32), NOW) == token(b"a" * 32)


async def test_of_concurrent_rotations_of_one_token_exactly_one_wins(store: Store) -> None:
    await add_user(store, "alice")
    await store.add_refresh_token(token(b"a" * 32))
    olds = await asyncio.gather(
        *(store.rotate_refresh_token(b"a" * 32, token(bytes([n]) * 32), NOW) for n in range(10))
    )
    assert sorted(old.rotated_at is None for old in olds if old is not None) == [False] * 9 + [True]


# Rooms and events -----------------------------------------------------------------------------
_APPENDER = """
import asyncio, sys
from sottovoce.core.models import EventKind, NewEvent
from sottovoce.store import open_store

async def main(url: str, room: str) -> None:
    store = await open_store(url)
    n = 0
    while True:
        n += 1
        send = NewEvent(room, f"$k{n}", EventKind.MESSAGE, "@alice:test", "ALICE1", f"k{n}", b"", 0)
        event, _ = await store.append_event(send)
        print(event.seq, flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_acknowledged_events_survive_a_sigkill_of_the_writer(database_url: str) -> None:
    store = await open_store(database_url)
    await room_of_alice(store)
    await store.close()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _APPENDER, database_url, ROOM, stdout=asyncio.subprocess.PIPE
    )
    assert writer.stdout is not None
    acked = [int(await writer.stdout.readline()) for _ in range(60)]
    writer.kill()
    await writer.wait()

    store = await open_store(database_url)
    try:
        stored = [event.seq for event in await store.events_after(ROOM, 0, 500)]
        room = await store.get_room(ROOM)
    finally:
        await store.close()
    assert set(acked) <= set(stored)
    assert room is not None and stored == list(range(1, room.last_seq + 1))


async def test_a_new_room_has_its_owner_and_first_event_at_seq_1(store: Store) -> None:
    first = await room_of_alice(store)
    assert first.seq == 1 and first.kind is EventKind.MEMBER
    room = await store.get_room(ROOM)
    assert room == Room(ROOM, RoomKind.GROUP, "general", "@alice:test", NOW, 1)
    assert [m.role for m in await store.list_members(ROOM)] == [Role.OWNER]
    assert await store.list_rooms_for_user("@alice:test") == [room]
    assert await store.events_after(ROOM, 0, 10) == [first]
    assert await store.get_room("!nope:test") is None


async def test_concurrent_appends_get_every_sequence_number_once_in_order(store: Store) -> None:
    await room_of_alice(store, devices=4)
    sends = [new_event(f"c{n}", f"ALICE{n % 4 + 1}", body=f"m{n}".encode()) for n in range(100)]
    results = await asyncio.gather(*(store.append_event(send) for send in sends))

    assert sorted(event.seq for event, _ in results) == list(range(2, 102))
    assert not any(duplicate for _, duplicate in results)
    stored = await store.events_after(ROOM, 1, 500)
    assert [event.seq for event in stored] == list(range(2, 102))
    assert sorted(stored, key=lambda e: e.client_id) == sorted(
        (event for event, _ in results), key=lambda e: e.client_id
    )
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 101


async def test_a_retried_send_returns_the_original_event_and_writes_nothing(store: Store) -> None:
    await room_of_alice(store)
    original, duplicate = await store.append_event(new_event("c1", body=b"first"))
    assert not duplicate
    retry = NewEvent(ROOM, "$other", EventKind.MESSAGE, "@alice:test", "ALICE1", "c1", b"x", NOW)
    assert await store.append_event(retry) == (original, True)
    follow_up, _ = await store.append_event(new_event("c2"))
    assert follow_up.seq == original.seq + 1
    assert len(await store.events_after(ROOM, 0, 10)) == 3


async def test_concurrent_retries_of_one_send_store_it_once(store: Store) -> None:
    await room_of_alice(store)
    results = await asyncio.gather(*(store.append_event(new_event("same")) for _ in range(20)))
    assert {event for event, _ in results} == {results[0][0]}
    assert sorted(duplicate for _, duplicate in results) == [False] + [True] * 19
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 2


async def test_the_same_client_id_from_another_device_is_another_event(store: Store) -> None:
    await room_of_alice(store, devices=2)
    first, _ = await store.append_event(new_event("c1", "ALICE1"))
    second, duplicate = await store.append_event(new_event("c1", "ALICE2"))
    assert not duplicate and second.seq == first.seq + 1


async def test_appending_to_an_unknown_room_raises_not_found(store: Store) -> None:
    await add_user(store, "alice")
    with pytest.raises(NotFound):
        await store.append_event(new_event("c1"))


async def test_a_membership_change_is_stored_with_its_event(store: Store) -> None:
    await room_of_alice(store)
    await add_user(store, "bob")
    invite = MembershipChange("@bob:test", Role.MEMBER, MemberState.INVITED)
    await store.append_event(new_event("invite"), lambda _: invite)
    member = await store.get_member(ROOM, "@bob:test")
    assert member is not None and member.state is MemberState.INVITED
    assert [room.room_id for room in await store.list_rooms_for_user("@bob:test")] == [ROOM]

    left = MembershipChange("@bob:test", Role.MEMBER, MemberState.LEFT)
    await store.append_event(new_event("leave"), lambda _: left)
    assert await store.list_rooms_for_user("@bob:test") == []
    assert [m.user_id for m in await store.list_members(ROOM)] == ["@alice:test"]
    gone = await store.get_member(ROOM, "@bob:test")
    assert gone is not None and gone.state is MemberState.LEFT
    assert await store.get_member(ROOM, "@carol:test") is None


async def test_every_page_of_history_is_the_matching_slice_of_the_timeline(store: Store) -> None:
    await room_of_alice(store)
    for n in range(11):
        await store.append_event(new_event(f"c{n}"))
    timeline = await store.events_after(ROOM, 0, 500)
    assert [e.seq for e in timeline] == list(range(1, 13))
    for cursor in range(14):
        for limit in range(1, 15):
            after = await store.events_after(ROOM, cursor, limit)
            assert after == [e for e in timeline if e.seq > cursor][:limit]
            before = await store.events_before(ROOM, cursor, limit)
            assert before == [e for e in timeline if e.seq < cursor][-limit:]


async def test_read_receipts_only_move_forward(store: Store) -> None:
    await room_of_alice(store)
    assert await store.set_receipt(ROOM, "@alice:test", 5)
    assert not await store.set_receipt(ROOM, "@alice:test", 5)
    assert not await store.set_receipt(ROOM, "@alice:test", 3)
    assert await store.set_receipt(ROOM, "@alice:test", 6)


# Device mailbox -------------------------------------------------------------------------------
async def test_mail_ids_increase_per_device_and_ack_deletes_up_to_the_id(store: Store) -> None:
    await add_user(store, "alice")
    phone, laptop = await add_user(store, "bob", devices=2)
    stored = await store.put_mail([mail(phone, b"1"), mail(laptop, b"a"), mail(phone, b"2")])
    assert [(m.recipient_device, m.id, m.body) for m in stored] == [
        (phone, 1, b"1"),
        (laptop, 1, b"a"),
        (phone, 2, b"2"),
    ]
    await store.put_mail([mail(phone, b"3")])
    assert [m.body for m in await store.mail_after(phone, 1, 10)] == [b"2", b"3"]
    assert [m.body for m in await store.mail_after(phone, 0, 2)] == [b"1", b"2"]

    assert await store.ack_mail(phone, 2) == 2
    assert [m.id for m in await store.mail_after(phone, 0, 10)] == [3]
    assert [m.id for m in await store.mail_after(laptop, 0, 10)] == [1]
    assert await store.ack_mail(phone, 2) == 0


async def test_concurrent_mail_to_one_device_gets_distinct_gap_free_ids(store: Store) -> None:
    await add_user(store, "alice")
    (phone,) = await add_user(store, "bob")
    batches = await asyncio.gather(
        *(store.put_mail([mail(phone, b"x"), mail(phone, b"y")]) for _ in range(25))
    )
    ids = sorted(m.id for batch in batches for m in batch)
    assert ids == list(range(1, 51))
    assert [m.id for m in await store.mail_after(phone, 0, 100)] == ids


async def test_mail_for_a_revoked_or_someone_elses_device_is_not_stored(store: Store) -> None:
    (alice_phone,) = await add_user(store, "alice")
    phone, laptop = await add_user(store, "bob", devices=2)
    await store.revoke_device(laptop)
    stored = await store.put_mail(
        [mail(laptop, b"no"), mail(alice_phone, b"no"), mail("NOSUCHDEVICE", b"no")]
    )
    assert stored == []
    assert await store.mail_after(alice_phone, 0, 10) == []
    assert [m.body for m in await store.put_mail([mail(phone, b"yes")])] == [b"yes"]


# Key directory --------------------------------------------------------------------------------
async def test_device_keys_are_listed_for_active_devices_only(store: Store) -> None:
    phone, laptop, tablet = await add_user(store, "alice", devices=3)
    await store.set_device_keys(phone, b"old")
    await store.set_device_keys(phone, b"new")
    await store.set_device_keys(tablet, b"tab")
    await store.revoke_device(tablet)
    assert await store.get_device_keys("@alice:test") == [(phone, b"new"), (laptop, None)]


async def test_key_package_counts_follow_uploads_and_claims(store: Store) -> None:
    (phone,) = await add_user(store, "alice")
    assert await store.count_key_packages(phone) == (0, False)
    assert await store.add_key_packages(phone, [b"k1", b"k2"], None) == 2
    assert await store.count_key_packages(phone) == (2, False)
    assert await store.add_key_packages(phone, [b"k3"], b"last") == 3
    assert await store.count_key_packages(phone) == (3, True)
    await store.claim_key_packages("@alice:test")
    assert await store.count_key_packages(phone) == (2, True)


async def test_a_claim_takes_one_package_per_device_oldest_first_then_the_last_resort(
    store: Store,
) -> None:
    phone, laptop, bare = await add_user(store, "alice", devices=3)
    await store.add_key_packages(phone, [b"p1", b"p2"], b"phone-last")
    await store.add_key_packages(laptop, [], b"laptop-last-old")
    await store.add_key_packages(laptop, [], b"laptop-last")

    claims = [await store.claim_key_packages("@alice:test") for _ in range(4)]
    as_tuples = [[(c.device_id, c.package, c.last_resort) for c in claim] for claim in claims]
    assert as_tuples == [
        [(phone, b"p1", False), (laptop, b"laptop-last", True)],
        [(phone, b"p2", False), (laptop, b"laptop-last", True)],
        [(phone, b"phone-last", True), (laptop, b"laptop-last", True)],
        [(phone, b"phone-last", True), (laptop, b"laptop-last", True)],
    ]
    assert bare not in {c.device_id for claim in claims for c in claim}


async def test_concurrent_claims_hand_out_each_one_time_package_at_most_once(
    store: Store,
) -> None:
    (phone,) = await add_user(store, "alice")
    one_time = [f"package-{n}".encode() for n in range(10)]
    await store.add_key_packages(phone, one_time, b"last-resort")

    claims = await asyncio.gather(*(store.claim_key_packages("@alice:test") for _ in range(50)))

    handed_out = Counter(claim.package for (claim,) in claims)
    assert handed_out == Counter({**dict.fromkeys(one_time, 1), b"last-resort": 40})
    assert all(claim.last_resort == (claim.package == b"last-resort") for (claim,) in claims)
    assert await store.count_key_packages(phone) == (0, True)


# Group commit ---------------------------------------------------------------------------------
OTHER_ROOM = "!BBBBBBBBBBBBBBBBBBBBBB:test"


async def two_rooms_of_alice(store: Store) -> None:
    await room_of_alice(store)
    room = Room(OTHER_ROOM, RoomKind.GROUP, "other", "@alice:test", NOW, 0)
    first = NewEvent(OTHER_ROOM, "$c2", EventKind.MEMBER, "@alice:test", "ALICE1", "c", b"{}", NOW)
    owner = MembershipChange("@alice:test", Role.OWNER, MemberState.JOINED)
    await store.create_room(room, first, owner)


def in_room(room_id: str, client_id: str) -> NewEvent:
    return replace(new_event(client_id), room_id=room_id, event_id=f"${room_id[1:4]}{client_id}")


def refuse(_members: object) -> MembershipChange:
    raise Forbidden("refused by its own rule")


async def test_a_batch_numbers_each_room_gap_free_in_the_order_given(store: Store) -> None:
    await two_rooms_of_alice(store)
    appends = [Append(in_room(ROOM if n % 3 else OTHER_ROOM, f"c{n}")) for n in range(30)]
    results = await store.append_events(appends)

    stored = [result for result in results if isinstance(result, tuple)]
    assert len(stored) == 30 and not any(duplicate for _, duplicate in stored)
    for room_id, count in ((ROOM, 20), (OTHER_ROOM, 10)):
        mine = [event for event, _ in stored if event.room_id == room_id]
        assert [event.seq for event in mine] == list(range(2, 2 + count))
        assert await store.events_after(room_id, 1, 100) == mine


async def test_a_duplicate_or_a_refusal_in_a_batch_fails_only_itself(store: Store) -> None:
    await room_of_alice(store)
    await add_user(store, "bob")
    original, _ = await store.append_event(new_event("before"))
    invite = MembershipChange("@bob:test", Role.MEMBER, MemberState.INVITED)
    results = await store.append_events(
        [
            Append(new_event("a")),
            Append(new_event("before")),
            Append(new_event("refused"), refuse),
            Append(new_event("a")),
            Append(in_room("!CCCCCCCCCCCCCCCCCCCCCC:test", "nowhere")),
            Append(new_event("invite"), lambda _: invite),
        ]
    )

    a, again, refused, a_again, nowhere, invited = results
    assert isinstance(a, tuple) and a[0].seq == 3 and not a[1]
    assert again == (original, True)
    assert isinstance(refused, Forbidden)
    assert a_again == (a[0], True)
    assert isinstance(nowhere, NotFound)
    assert isinstance(invited, tuple) and invited[0].seq == 4
    assert [e.client_id for e in await store.events_after(ROOM, 1, 10)] == ["before", "a", "invite"]
    bob = await store.get_member(ROOM, "@bob:test")
    assert bob is not None and bob.state is MemberState.INVITED
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 4


async def test_group_commit_settles_every_caller_in_sequence_order(store: Store) -> None:
    await two_rooms_of_alice(store)
    commits = GroupCommit(store, max_batch=7)
    settled: list[Event] = []
    futures = [
        commits.submit(Append(in_room(ROOM if n % 2 else OTHER_ROOM, f"c{n % 40}")))
        for n in range(100)
    ]
    futures.append(commits.submit(Append(new_event("refused"), refuse)))
    for future in futures[:100]:
        future.add_done_callback(lambda done: settled.append(done.result()[0]))
    results = await asyncio.gather(*futures, return_exceptions=True)

    assert isinstance(results[-1], Forbidden)
    events = [result for result in results[:100] if isinstance(result, tuple)]
    assert sum(not duplicate for _, duplicate in events) == 40
    for room_id in (ROOM, OTHER_ROOM):
        fresh = [e.seq for e in settled if e.room_id == room_id]
        assert fresh[:20] == list(range(2, 22))
        assert [e.seq for e in await store.events_after(room_id, 1, 100)] == list(range(2, 22))


async def test_a_batch_of_one_answers_like_append_event(store: Store) -> None:
    await room_of_alice(store)
    [stored] = await store.append_events([Append(new_event("c1"))])
    assert isinstance(stored, tuple) and stored[0].seq == 2
    assert await store.append_events([Append(new_event("c1"))]) == [(stored[0], True)]
    [refused] = await store.append_events([Append(new_event("c2"), refuse)])
    assert isinstance(refused, Forbidden)
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 2


async def test_group_commit_cancels_its_callers_when_it_is_stopped(store: Store) -> None:
    await room_of_alice(store)
    commits = GroupCommit(store)
    futures = [commits.submit(Append(new_event(f"c{n}"))) for n in range(5)]
    writer = next(t for t in asyncio.all_tasks() if t.get_name() == "group-commit")
    await asyncio.sleep(0)
    writer.cancel()
    async with asyncio.timeout(10):
        results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(result, asyncio.CancelledError) for result in results)
    # A later append starts a new writer.
    event, _ = await commits.submit(Append(new_event("after")))
    assert event.client_id == "after"


async def test_a_batch_stores_a_commits_welcomes_with_it_and_none_of_a_refused_one(
    store: Store,
) -> None:
    await two_rooms_of_alice(store)
    await add_user(store, "bob", devices=2)
    commit = Header(epoch=0, is_commit=True)
    winner = Append(
        in_room(ROOM, "win"), mls=commit, welcomes=[mail("BOB1", b"w1"), mail("BOB2", b"w1")]
    )
    stale = Append(in_room(ROOM, "lose"), mls=commit, welcomes=[mail("BOB1", b"w2")])
    other = Append(in_room(OTHER_ROOM, "other"), mls=commit, welcomes=[mail("BOB2", b"w3")])
    results = await store.append_events([winner, Append(in_room(OTHER_ROOM, "x")), stale, other])

    assert isinstance(results[2], StaleEpoch)
    assert [m.body for m in winner.mailed] == [b"w1", b"w1"] and stale.mailed == []
    assert [(m.recipient_device, m.body) for m in other.mailed] == [("BOB2", b"w3")]
    assert [m.body for m in await store.mail_after("BOB1", 0, 10)] == [b"w1"]
    assert await store.mail_after("BOB2", 0, 10) == winner.mailed[1:] + other.mailed

    retry = Append(in_room(ROOM, "win"), mls=commit, welcomes=[mail("BOB1", b"w1")])
    again, _ = await store.append_events([retry, Append(in_room(ROOM, "y"))])
    assert isinstance(again, tuple) and again[1] and retry.mailed == []
    alone = Append(in_room(ROOM, "alone"), mls=commit, welcomes=[mail("BOB1", b"w4")])
    [refused] = await store.append_events([alone])
    assert isinstance(refused, StaleEpoch) and alone.mailed == []
    assert [m.body for m in await store.mail_after("BOB1", 0, 10)] == [b"w1"]


async def test_the_same_mls_message_under_another_client_id_is_a_replay_and_not_stored(
    store: Store,
) -> None:
    await room_of_alice(store, devices=2)
    message = Header(epoch=0, is_commit=False)
    original, _ = await store.append_event(new_event("c1", body=b"mls"), mls=message)
    for replay in (new_event("c2", body=b"mls"), new_event("c1", "ALICE2", b"mls")):
        with pytest.raises(ReplayedMessage):
            await store.append_event(replay, mls=message)
    retried = await store.append_event(new_event("c1", body=b"mls"), mls=message)
    assert retried == (original, True)
    results = await store.append_events(
        [
            Append(new_event("c3", body=b"other"), mls=message),
            Append(new_event("c4", body=b"mls"), mls=message),
            Append(new_event("c5", body=b"other"), mls=message),
        ]
    )
    assert isinstance(results[0], tuple) and not results[0][1]
    assert isinstance(results[1], ReplayedMessage) and isinstance(results[2], ReplayedMessage)
    assert [e.client_id for e in await store.events_after(ROOM, 1, 10)] == ["c1", "c3"]
    # Bodies the server does not read as MLS (a plaintext-allowed server) may repeat.
    for client_id in ("p1", "p2"):
        _, duplicate = await store.append_event(new_event(client_id, body=b"hello"))
        assert not duplicate
    room = await store.get_room(ROOM)
    assert room is not None and room.last_seq == 5


async def test_events_after_each_is_every_rooms_slice_past_its_cursor_in_room_order(
    store: Store,
) -> None:
    await two_rooms_of_alice(store)
    # More rooms than one read holds, each with its own number of messages (0 to 3).
    room_ids = [f"!{n:022d}:test" for n in range(40)]
    for n, room_id in enumerate(room_ids):
        first = NewEvent(
            room_id, f"$c{n}", EventKind.MEMBER, "@alice:test", "ALICE1", "c", b"{}", NOW
        )
        owner = MembershipChange("@alice:test", Role.OWNER, MemberState.JOINED)
        await store.create_room(
            Room(room_id, RoomKind.GROUP, "r", "@alice:test", NOW, 0), first, owner
        )
    appends = [
        Append(in_room(room_id, f"m{n}-{k}"))
        for n, room_id in enumerate(room_ids)
        for k in range(n % 4)
    ]
    assert all(isinstance(result, tuple) for result in await store.append_events(appends))
    timeline = {room_id: await store.events_after(room_id, 0, 500) for room_id in room_ids}

    def expected(cursors: dict[str, int], limit: int) -> list[Event]:
        past = [
            e for room in sorted(cursors) for e in timeline.get(room, []) if e.seq > cursors[room]
        ]
        return past[:limit]

    for size in (1, 2, 3, 5, 9, 17, 32, 33, 40):
        # Cursors at the start, in the middle, at and past the end, and an unknown room.
        cursors = {room_id: (size + n) % 5 for n, room_id in enumerate(room_ids[:size])}
        cursors["!unknown0000000000000000:test"] = 0
        for limit in range(1, len(expected(cursors, 500)) + 2):
            assert await store.events_after_each(cursors, limit) == expected(cursors, limit)


async def test_reads_of_many_connects_at_once_answer_each_as_alone(store: Store) -> None:
    """A reconnect storm's reads, all at once: on PostgreSQL they are taken together
    (store/pg_batches.py), and each reader must still get exactly its own answer."""
    await two_rooms_of_alice(store)
    alice = await store.get_device("ALICE1")
    bob_phone, bob_laptop = await add_user(store, "bob", devices=2)
    await add_user(store, "carol")
    await store.revoke_device(bob_laptop)
    invite = MembershipChange("@bob:test", Role.MEMBER, MemberState.INVITED)
    await store.append_event(new_event("invite"), lambda _: invite)
    carol_in = MembershipChange("@carol:test", Role.MEMBER, MemberState.JOINED)
    await store.append_event(
        replace(in_room(OTHER_ROOM, "carol"), kind=EventKind.MEMBER), lambda _: carol_in
    )
    carol_out = replace(carol_in, state=MemberState.LEFT)
    await store.append_event(
        replace(in_room(OTHER_ROOM, "carol-left"), kind=EventKind.MEMBER), lambda _: carol_out
    )
    await store.append_events([Append(in_room(ROOM, f"m{n}")) for n in range(6)])
    await store.put_mail([mail(bob_phone, str(n).encode()) for n in range(5)])
    await store.put_mail([mail("ALICE1", b"a", user="@alice:test")])

    reads = [
        *(store.get_device(d) for d in ("ALICE1", bob_phone, bob_laptop, "NOSUCHDEVICE") * 3),
        *(store.list_rooms_for_user(u) for u in ("@alice:test", "@bob:test", "@carol:test") * 3),
        *(
            store.mail_after(d, a, n)
            for d, a, n in (
                (bob_phone, 0, 500),
                (bob_phone, 2, 500),
                (bob_phone, 0, 2),
                ("ALICE1", 0, 500),
                ("ALICE1", 1, 500),
                (bob_laptop, 0, 500),
            )
            * 3
        ),
        *(
            store.events_after_each(c, n)
            for c, n in (
                ({ROOM: 2}, 500),
                ({ROOM: 2}, 500),
                ({ROOM: 4}, 500),
                ({ROOM: 2, OTHER_ROOM: 0}, 3),
            )
            * 3
        ),
    ]
    together = await asyncio.gather(*reads)

    devices, rooms, mails, news = together[:12], together[12:21], together[21:39], together[39:]
    laptop = await store.list_devices("@bob:test", include_revoked=True)
    assert devices[:4] == [
        alice,
        *(d for d in laptop if d.device_id == bob_phone),
        *(d for d in laptop if d.device_id == bob_laptop),
        None,
    ]
    assert devices[4:8] == devices[:4] and devices[8:] == devices[:4]
    assert devices[2] is not None and devices[2].revoked
    assert [[r.room_id for r in rs] for rs in rooms[:3]] == [[ROOM, OTHER_ROOM], [ROOM], []]
    assert rooms[3:6] == rooms[:3] and rooms[6:] == rooms[:3]
    assert [[(m.recipient_device, m.body) for m in ms] for ms in mails[:6]] == [
        [(bob_phone, str(n).encode()) for n in range(5)],
        [(bob_phone, str(n).encode()) for n in range(2, 5)],
        [(bob_phone, b"0"), (bob_phone, b"1")],
        [("ALICE1", b"a")],
        [],
        [],
    ]
    assert mails[6:12] == mails[:6] and mails[12:] == mails[:6]
    timeline = await store.events_after(ROOM, 0, 500)
    other = await store.events_after(OTHER_ROOM, 0, 500)
    assert news[:4] == [timeline[2:], timeline[2:], timeline[4:], (timeline[2:] + other)[:3]]
    assert news[4:8] == news[:4] and news[8:] == news[:4]
