"""``SqlStore``: the ``Store`` contract on SQLite and PostgreSQL through SQLAlchemy Core.

Every method is one transaction (``Database.writing``) or one statement (``Database.reading``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Row, Table, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from sottovoce.core.delivery import Header, admit
from sottovoce.core.errors import InvalidInviteCode, NotFound, ReplayedMessage, UserExists
from sottovoce.core.models import (
    ClaimedPackage,
    Device,
    Event,
    InviteCode,
    Mail,
    Member,
    MembershipChange,
    MemberState,
    NewEvent,
    NewMail,
    RefreshToken,
    Room,
    User,
)
from sottovoce.store import pg_appends, pg_batches, pg_reads, reads, sqlite_appends
from sottovoce.store.base import Append, AppendResult, MembershipRule
from sottovoce.store.engines import Database
from sottovoce.store.records import (
    DEVICE_COLUMNS,
    EVENT_COLUMNS,
    device_from_row,
    event_from_row,
    event_values,
    fields,
    member_from_row,
    refresh_token_from_row,
)
from sottovoce.store.tables import (
    device_keys,
    devices,
    events,
    invite_codes,
    key_packages,
    mailbox,
    members,
    receipts,
    refresh_tokens,
    room_groups,
    rooms,
    users,
)

_VISIBLE_STATES = (MemberState.JOINED.value, MemberState.INVITED.value)
DEVICES_PER_QUERY = 500
T = TypeVar("T")


class SqlStore:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._pg_appends = None if database.pg is None else pg_appends.Appender(database.pg)
        self._pg_batches = (
            None
            if database.pg is None
            else pg_batches.Batches(database.pg, self._events_after_each)
        )
        # The dialect's own INSERT, for ON CONFLICT (spelled alike on both engines).
        self._insert = postgresql.insert if database.dialect == "postgresql" else sqlite.insert

    async def ping(self) -> None:
        async with self._db.reading() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self._db.dispose()

    # Accounts ---------------------------------------------------------------------------------
    async def create_user(self, user: User, invite_code: str | None, now: int) -> None:
        async with self._db.writing() as conn:
            try:
                await conn.execute(insert(users).values(**fields(user)))
            except IntegrityError:
                raise UserExists(f"the user {user.user_id} already exists") from None
            if invite_code is None:
                return
            consumed = await conn.execute(
                update(invite_codes)
                .where(
                    invite_codes.c.code == invite_code,
                    invite_codes.c.uses_left > 0,
                    or_(invite_codes.c.expires_at.is_(None), invite_codes.c.expires_at > now),
                )
                .values(uses_left=invite_codes.c.uses_left - 1)
            )
            if consumed.rowcount != 1:
                # Raising rolls the user insert back.
                raise InvalidInviteCode("the invite code is unknown, used up or expired")

    async def get_user(self, user_id: str) -> User | None:
        row = await self._one_or_none(select(users).where(users.c.user_id == user_id))
        return None if row is None else User(**row._mapping)

    async def list_users(self) -> list[User]:
        rows = await self._all(select(users).order_by(users.c.user_id))
        return [User(**row._mapping) for row in rows]

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        async with self._db.writing() as conn:
            result = await conn.execute(
                update(users).where(users.c.user_id == user_id).values(password_hash=password_hash)
            )
        return result.rowcount == 1

    async def set_user_disabled(self, user_id: str, disabled: bool) -> bool:
        async with self._db.writing() as conn:
            result = await conn.execute(
                update(users).where(users.c.user_id == user_id).values(disabled=disabled)
            )
            if disabled:
                await _revoke_devices(conn, devices.c.user_id == user_id)
        return result.rowcount == 1

    async def create_invite_code(self, invite: InviteCode) -> None:
        async with self._db.writing() as conn:
            await conn.execute(insert(invite_codes).values(**fields(invite)))

    # Devices and tokens -----------------------------------------------------------------------
    async def create_device(self, device: Device) -> None:
        async with self._db.writing() as conn:
            await conn.execute(insert(devices).values(**fields(device), last_mail_id=0))

    async def get_device(self, device_id: str) -> Device | None:
        if self._pg_batches is not None:
            return await self._pg_batches.device(device_id)
        found = await self._read(reads.DEVICE, device_id=device_id)
        return found[0] if found else None

    async def list_devices(self, user_id: str, include_revoked: bool = False) -> list[Device]:
        query = select(*DEVICE_COLUMNS).where(devices.c.user_id == user_id)
        if not include_revoked:
            query = query.where(devices.c.revoked.is_(False))
        rows = await self._all(query.order_by(devices.c.created_at, devices.c.device_id))
        return [device_from_row(row) for row in rows]

    async def revoked_among(self, device_ids: Collection[str]) -> set[str]:
        wanted = sorted(device_ids)
        active: set[str] = set()
        # In chunks, within any engine's bound on a statement's parameters (SQLite's is 32,766).
        for start in range(0, len(wanted), DEVICES_PER_QUERY):
            chunk = wanted[start : start + DEVICES_PER_QUERY]
            query = select(devices.c.device_id).where(
                devices.c.device_id.in_(chunk), devices.c.revoked.is_(False)
            )
            active.update(row.device_id for row in await self._all(query))
        return set(wanted) - active

    async def revoke_device(self, device_id: str) -> bool:
        async with self._db.writing() as conn:
            return await _revoke_devices(conn, devices.c.device_id == device_id) == 1

    async def touch_device(self, device_id: str, now: int) -> None:
        async with self._db.writing() as conn:
            await conn.execute(
                update(devices)
                .where(devices.c.device_id == device_id, devices.c.last_seen_at < now)
                .values(last_seen_at=now)
            )

    async def add_refresh_token(self, token: RefreshToken) -> None:
        async with self._db.writing() as conn:
            await conn.execute(insert(refresh_tokens).values(**fields(token)))

    async def rotate_refresh_token(
        self, old_hash: bytes, new_token: RefreshToken, now: int
    ) -> RefreshToken | None:
        async with self._db.writing() as conn:
            # The conditional UPDATE is the atomic step: of two concurrent rotations of one token,
            # the second finds rotated_at already set (PostgreSQL re-checks after the row lock).
            rotated = (
                await conn.execute(
                    update(refresh_tokens)
                    .where(
                        refresh_tokens.c.token_hash == old_hash,
                        refresh_tokens.c.rotated_at.is_(None),
                        refresh_tokens.c.family_id == new_token.family_id,
                    )
                    .values(rotated_at=now)
                    .returning(*refresh_tokens.c)
                )
            ).one_or_none()
            if rotated is None:
                current = (
                    await conn.execute(
                        select(refresh_tokens).where(refresh_tokens.c.token_hash == old_hash)
                    )
                ).one_or_none()
                return None if current is None else refresh_token_from_row(current)
            await conn.execute(insert(refresh_tokens).values(**fields(new_token)))
        return replace(refresh_token_from_row(rotated), rotated_at=None)

    # Rooms and events -------------------------------------------------------------------------
    async def create_room(
        self, room: Room, first_event: NewEvent, owner: MembershipChange
    ) -> Event:
        stored = Event(seq=1, **fields(first_event))
        async with self._db.writing() as conn:
            await conn.execute(
                insert(rooms).values(**fields(room) | {"kind": room.kind.value, "last_seq": 1})
            )
            await self._apply_membership(conn, room.room_id, owner)
            await conn.execute(insert(events).values(**event_values(stored)))
        return stored

    async def get_room(self, room_id: str) -> Room | None:
        found = await self._read(reads.ROOM, room_id=room_id)
        return found[0] if found else None

    async def list_rooms_for_user(self, user_id: str) -> list[Room]:
        if self._pg_batches is not None:
            return await self._pg_batches.rooms_of_user(user_id)
        return await self._read(reads.ROOMS_OF_USER, user_id=user_id)

    async def list_members(self, room_id: str) -> list[Member]:
        rows = await self._all(_visible_members(room_id))
        return [member_from_row(row) for row in rows]

    async def _members_in(self, conn: AsyncConnection, room_id: str) -> dict[str, Member]:
        rows = (await conn.execute(_visible_members(room_id))).all()
        return {row.user_id: member_from_row(row) for row in rows}

    async def get_member(self, room_id: str, user_id: str) -> Member | None:
        row = await self._one_or_none(
            select(members).where(members.c.room_id == room_id, members.c.user_id == user_id)
        )
        return None if row is None else member_from_row(row)

    async def append_event(
        self,
        event: NewEvent,
        membership: MembershipRule | None = None,
        mls: Header | None = None,
        welcomes: Sequence[NewMail] = (),
    ) -> tuple[Event, bool]:
        return await self._append_alone(Append(event, membership, mls, welcomes))

    async def _append_alone(self, append: Append) -> tuple[Event, bool]:
        async with self._db.writing() as conn:
            stored, duplicate = await self._append(conn, append)
            if duplicate:
                # Undo the counter bump: a retried send writes nothing.
                await conn.rollback()
                return stored, True
            mailed = await self._put_mail(conn, append.welcomes)
        append.mailed.extend(mailed.values())
        return stored, False

    async def append_events(self, appends: Sequence[Append]) -> list[AppendResult]:
        # Plain message appends, the usual batch, have a fast path on each engine.
        if all(map(sqlite_appends.handles, appends)):
            writer = self._db.sqlite
            if writer is not None:
                return await self._db.writing_sqlite(
                    writer, lambda conn: sqlite_appends.append_batch(conn, appends)
                )
            if self._pg_appends is not None:
                return await self._pg_appends.append_batch(appends)
        if len(appends) == 1:
            # Alone in its transaction, an append needs no savepoint: two statements fewer.
            try:
                return [await self._append_alone(appends[0])]
            except Exception as exc:
                return [exc]
        results: dict[int, AppendResult] = {}
        welcomed: list[int] = []
        # Rooms are locked in one order by every batch, so two nodes' batches on PostgreSQL
        # cannot deadlock; the sort is stable, keeping each room's appends in caller order.
        order = sorted(range(len(appends)), key=lambda i: appends[i].event.room_id)
        async with self._db.writing() as conn:
            for i in order:
                # A savepoint per append: a duplicate or a refused one is undone alone.
                savepoint = await conn.begin_nested()
                try:
                    stored, duplicate = await self._append(conn, appends[i])
                except Exception as exc:
                    await savepoint.rollback()
                    results[i] = exc
                    continue
                if duplicate:
                    await savepoint.rollback()
                else:
                    await savepoint.commit()
                    if appends[i].welcomes:
                        welcomed.append(i)
                results[i] = (stored, duplicate)
            # After every room's lock, in one sorted pass over the devices: locks are then
            # always taken rooms first, devices second, so batches and put_mail cannot deadlock.
            owner = [i for i in welcomed for _ in appends[i].welcomes]
            mails = [mail for i in welcomed for mail in appends[i].welcomes]
            stored_mails = await self._put_mail(conn, mails)
        for index, mail in sorted(stored_mails.items()):
            appends[owner[index]].mailed.append(mail)
        return [results[i] for i in range(len(appends))]

    async def _append(self, conn: AsyncConnection, append: Append) -> tuple[Event, bool]:
        """The writes of one append; on a duplicate the caller must roll back the counter bump."""
        event = append.event
        # Take the room's row lock first: every later statement of this transaction then sees
        # all earlier appends to the room, so the idempotency check below cannot race.
        seq = (
            await conn.execute(
                update(rooms)
                .where(rooms.c.room_id == event.room_id)
                .values(last_seq=rooms.c.last_seq + 1)
                .returning(rooms.c.last_seq)
            )
        ).scalar_one_or_none()
        if seq is None:
            raise NotFound(f"there is no room {event.room_id}")
        # Judged under the row lock, so racing membership changes see each other's results.
        change = (
            None
            if append.membership is None
            else append.membership(await self._members_in(conn, event.room_id))
        )
        stored = Event(seq=seq, **fields(event))
        # The insert doubles as the duplicate and replay checks, sparing the common case a round
        # trip: it does nothing on a known client_id or a known MLS message's digest.
        inserted = (
            await conn.execute(
                self._insert(events)
                .values(**event_values(stored, mls=append.mls is not None))
                .on_conflict_do_nothing()
                .returning(events.c.seq)
            )
        ).one_or_none()
        if inserted is None:
            original = (
                await conn.execute(
                    select(*EVENT_COLUMNS).where(
                        events.c.room_id == event.room_id,
                        events.c.sender_device == event.sender_device,
                        events.c.client_id == event.client_id,
                    )
                )
            ).one_or_none()
            if original is not None:
                return event_from_row(original), True
            if append.mls is not None:
                # A message of an old epoch is stale before it is a replay: its sender re-bases.
                await self._admit(conn, event.room_id, append.mls)
            raise ReplayedMessage(
                "the room already holds this exact MLS message: a replay is not stored"
            )
        if change is not None:
            await self._apply_membership(conn, event.room_id, change)
        if append.mls is not None:
            # Under the room's row lock: one commit per epoch, whoever stores first.
            await self._admit(conn, event.room_id, append.mls)
        return stored, False

    async def _admit(self, conn: AsyncConnection, room_id: str, header: Header) -> None:
        row = (
            await conn.execute(select(room_groups.c.epoch).where(room_groups.c.room_id == room_id))
        ).one_or_none()
        current = 0 if row is None else int(row.epoch)
        epoch = admit(header, current)
        if epoch != current:
            # The previous epoch's GroupInfo cannot be joined from any more.
            await conn.execute(
                self._insert(room_groups)
                .values(room_id=room_id, epoch=epoch, group_info=None)
                .on_conflict_do_update(
                    index_elements=[room_groups.c.room_id],
                    set_={"epoch": epoch, "group_info": None},
                )
            )

    async def mls_epoch(self, room_id: str) -> tuple[int, bytes | None]:
        row = await self._one_or_none(
            select(room_groups.c.epoch, room_groups.c.group_info).where(
                room_groups.c.room_id == room_id
            )
        )
        return (0, None) if row is None else (int(row.epoch), row.group_info)

    async def set_group_info(self, room_id: str, epoch: int, group_info: bytes) -> bool:
        async with self._db.writing() as conn:
            await conn.execute(
                self._insert(room_groups)
                .values(room_id=room_id, epoch=0, group_info=None)
                .on_conflict_do_nothing(index_elements=[room_groups.c.room_id])
            )
            # Conditional on the epoch, so a commit stored meanwhile wins over a late GroupInfo.
            updated = await conn.execute(
                update(room_groups)
                .where(room_groups.c.room_id == room_id, room_groups.c.epoch == epoch)
                .values(group_info=group_info)
            )
        return updated.rowcount == 1

    async def events_after(self, room_id: str, after: int, limit: int) -> list[Event]:
        return await self._read(reads.EVENTS_AFTER, room_id=room_id, after=after, limit=limit)

    async def events_after_each(self, cursors: Mapping[str, int], limit: int) -> list[Event]:
        if self._pg_batches is not None:
            return await self._pg_batches.events_after_each(cursors, limit)
        return await self._events_after_each(cursors, limit)

    async def _events_after_each(self, cursors: Mapping[str, int], limit: int) -> list[Event]:
        found: list[Event] = []
        rooms = sorted(cursors)
        for start in range(0, len(rooms), reads.ROOMS_PER_READ):
            chunk = rooms[start : start + reads.ROOMS_PER_READ]
            read, params = reads.events_after_each(
                {room: cursors[room] for room in chunk}, limit - len(found)
            )
            found += await self._read(read, **params)
            if len(found) == limit:
                break
        return found

    async def events_before(self, room_id: str, before: int, limit: int) -> list[Event]:
        rows = await self._all(
            select(*EVENT_COLUMNS)
            .where(events.c.room_id == room_id, events.c.seq < before)
            .order_by(events.c.seq.desc())
            .limit(limit)
        )
        return [event_from_row(row) for row in reversed(rows)]

    async def set_receipt(self, room_id: str, user_id: str, seq: int) -> bool:
        statement = self._insert(receipts).values(room_id=room_id, user_id=user_id, seq=seq)
        statement = statement.on_conflict_do_update(
            index_elements=[receipts.c.room_id, receipts.c.user_id],
            set_={"seq": statement.excluded.seq},
            where=receipts.c.seq < statement.excluded.seq,
        )
        async with self._db.writing() as conn:
            raised = await conn.execute(statement.returning(receipts.c.seq))
            return raised.one_or_none() is not None

    # Device mailbox ---------------------------------------------------------------------------
    async def put_mail(self, mails: list[NewMail]) -> list[Mail]:
        """Store the mails of active devices of their named users; others are skipped."""
        async with self._db.writing() as conn:
            stored = await self._put_mail(conn, mails)
        return [stored[index] for index in sorted(stored)]

    async def _put_mail(self, conn: AsyncConnection, mails: Sequence[NewMail]) -> dict[int, Mail]:
        """The stored mails by their index in ``mails``."""
        batches: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        for index, mail in enumerate(mails):
            batches[(mail.recipient_device, mail.recipient_user)].append(index)
        stored: dict[int, Mail] = {}
        # Sorted, so that concurrent batches lock device rows in one order and cannot deadlock.
        for (device_id, user_id), indexes in sorted(batches.items()):
            last = (
                await conn.execute(
                    update(devices)
                    .where(
                        devices.c.device_id == device_id,
                        devices.c.user_id == user_id,
                        devices.c.revoked.is_(False),
                    )
                    .values(last_mail_id=devices.c.last_mail_id + len(indexes))
                    .returning(devices.c.last_mail_id)
                )
            ).scalar_one_or_none()
            if last is None:
                continue
            first = last - len(indexes) + 1
            for offset, index in enumerate(indexes):
                new = mails[index]
                stored[index] = Mail(
                    id=first + offset,
                    recipient_device=device_id,
                    sender=new.sender,
                    sender_device=new.sender_device,
                    kind=new.kind,
                    body=new.body,
                    ts=new.ts,
                )
        if stored:
            await conn.execute(insert(mailbox), [fields(mail) for mail in stored.values()])
        return stored

    async def mail_after(self, device_id: str, after: int, limit: int) -> list[Mail]:
        if self._pg_batches is not None:
            return await self._pg_batches.mail_after(device_id, after, limit)
        return await self._read(reads.MAIL_AFTER, device_id=device_id, after=after, limit=limit)

    async def ack_mail(self, device_id: str, up_to: int) -> int:
        async with self._db.writing() as conn:
            result = await conn.execute(
                delete(mailbox).where(
                    mailbox.c.recipient_device == device_id, mailbox.c.id <= up_to
                )
            )
        return result.rowcount

    # Key directory ----------------------------------------------------------------------------
    async def set_device_keys(self, device_id: str, keys: bytes) -> None:
        async with self._db.writing() as conn:
            await self._set_device_key_column(conn, device_id, "keys", keys)

    async def get_device_keys(self, user_id: str) -> list[tuple[str, bytes | None]]:
        rows = await self._all(
            select(devices.c.device_id, device_keys.c["keys"])
            .outerjoin(device_keys, device_keys.c.device_id == devices.c.device_id)
            .where(devices.c.user_id == user_id, devices.c.revoked.is_(False))
            .order_by(devices.c.created_at, devices.c.device_id)
        )
        return [(row.device_id, row.keys) for row in rows]

    async def add_key_packages(
        self, device_id: str, one_time: list[bytes], last_resort: bytes | None
    ) -> int:
        async with self._db.writing() as conn:
            if one_time:
                await conn.execute(
                    insert(key_packages),
                    [{"device_id": device_id, "package": package} for package in one_time],
                )
            if last_resort is not None:
                await self._set_device_key_column(conn, device_id, "last_resort", last_resort)
            count = await conn.execute(
                select(func.count()).where(key_packages.c.device_id == device_id)
            )
            return int(count.scalar_one())

    async def count_key_packages(self, device_id: str) -> tuple[int, bool]:
        one_time = (
            select(func.count()).where(key_packages.c.device_id == device_id).scalar_subquery()
        )
        last_resort = (
            select(device_keys.c.last_resort.is_not(None))
            .where(device_keys.c.device_id == device_id)
            .scalar_subquery()
        )
        row = await self._one_or_none(select(one_time, last_resort))
        assert row is not None
        return int(row[0]), bool(row[1])

    async def claim_key_packages(self, user_id: str) -> list[ClaimedPackage]:
        claimed: list[ClaimedPackage] = []
        async with self._db.writing() as conn:
            owned = await conn.execute(
                select(devices.c.device_id, device_keys.c.last_resort)
                .outerjoin(device_keys, device_keys.c.device_id == devices.c.device_id)
                .where(devices.c.user_id == user_id, devices.c.revoked.is_(False))
                .order_by(devices.c.created_at, devices.c.device_id)
            )
            for device_id, last_resort in owned.all():
                # SKIP LOCKED (PostgreSQL; SQLite writers are serialized anyway) lets concurrent
                # claimers take different packages instead of queueing on the same row.
                oldest = (
                    select(key_packages.c.id)
                    .where(key_packages.c.device_id == device_id)
                    .order_by(key_packages.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                package = (
                    await conn.execute(
                        delete(key_packages)
                        .where(key_packages.c.id == oldest)
                        .returning(key_packages.c.package)
                    )
                ).scalar_one_or_none()
                if package is not None:
                    claimed.append(ClaimedPackage(device_id, package, last_resort=False))
                elif last_resort is not None:
                    claimed.append(ClaimedPackage(device_id, last_resort, last_resort=True))
        return claimed

    # Helpers ----------------------------------------------------------------------------------
    async def _apply_membership(
        self, conn: AsyncConnection, room_id: str, change: MembershipChange
    ) -> None:
        values = {"role": change.role.value, "state": change.state.value}
        statement = self._insert(members).values(room_id=room_id, user_id=change.user_id, **values)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[members.c.room_id, members.c.user_id], set_=values
            )
        )

    async def _set_device_key_column(
        self, conn: AsyncConnection, device_id: str, column: str, value: bytes
    ) -> None:
        statement = self._insert(device_keys).values({"device_id": device_id, column: value})
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[device_keys.c.device_id], set_={column: value}
            )
        )

    async def _read(self, read: reads.Read[T], **params: Any) -> list[T]:
        sqlite_reader = self._db.sqlite_reader()
        if sqlite_reader is not None:
            return read.sqlite_rows(sqlite_reader, params)
        # Not SQLite, so PostgreSQL.
        assert self._db.pg is not None
        return await pg_reads.fetch(self._db.pg, read, params)

    async def _one_or_none(self, query: Any) -> Row[Any] | None:
        async with self._db.reading() as conn:
            return (await conn.execute(query)).one_or_none()

    async def _all(self, query: Any) -> list[Row[Any]]:
        async with self._db.reading() as conn:
            return list((await conn.execute(query)).all())


async def _revoke_devices(conn: AsyncConnection, which: ColumnElement[bool]) -> int:
    """Mark the devices revoked and delete what only they may use; return how many matched."""
    revoked = await conn.execute(update(devices).where(which).values(revoked=True))
    device_ids = select(devices.c.device_id).where(which)
    owned: tuple[tuple[Table, Any], ...] = (
        (refresh_tokens, refresh_tokens.c.device_id),
        (key_packages, key_packages.c.device_id),
        (device_keys, device_keys.c.device_id),
        (mailbox, mailbox.c.recipient_device),
    )
    for table, device_column in owned:
        await conn.execute(delete(table).where(device_column.in_(device_ids)))
    return revoked.rowcount


def _visible_members(room_id: str) -> Any:
    return (
        select(members)
        .where(members.c.room_id == room_id, members.c.state.in_(_VISIBLE_STATES))
        .order_by(members.c.user_id)
    )
