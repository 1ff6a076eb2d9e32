"""The storage contract. The server's rules live above it; every method is one transaction.

Implementations: ``sottovoce.store.sql.SqlStore`` (SQLite and PostgreSQL through SQLAlchemy Core).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from sottovoce.core.delivery import Header
from sottovoce.core.models import (
    ClaimedPackage,
    Device,
    Event,
    InviteCode,
    Mail,
    Member,
    MembershipChange,
    NewEvent,
    NewMail,
    RefreshToken,
    Room,
    User,
)

MembershipRule = Callable[[Mapping[str, Member]], MembershipChange]
"""Decides a membership change from the room's current members, or raises a ``SottoError``.

It runs inside the event's transaction, after the room's row is locked, so concurrent changes on
any node are judged one after another against the state the previous one left."""


@dataclass(frozen=True, slots=True)
class Append:
    """One ``append_event`` call, for ``append_events``."""

    event: NewEvent
    membership: MembershipRule | None = None
    mls: Header | None = None
    # Mailbox rows stored with the event, in its transaction, or not at all: the Welcomes of a
    # commit that adds devices.
    welcomes: Sequence[NewMail] = ()
    # Filled with the welcomes as stored once the transaction has committed (empty for a
    # duplicate, whose welcomes were stored with the original).
    mailed: list[Mail] = field(default_factory=list)


AppendResult: TypeAlias = tuple[Event, bool] | Exception
"""What ``append_event`` would have returned, or the exception it would have raised."""


class Store(Protocol):
    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    async def close(self) -> None: ...

    # Accounts ---------------------------------------------------------------------------------
    async def create_user(self, user: User, invite_code: str | None, now: int) -> None:
        """Insert a user; when ``invite_code`` is given, consume one use of it atomically.

        Raises ``UserExists`` or ``InvalidInviteCode`` and then stores nothing.
        """

    async def get_user(self, user_id: str) -> User | None: ...

    async def list_users(self) -> list[User]: ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        """Return False when the user does not exist."""

    async def set_user_disabled(self, user_id: str, disabled: bool) -> bool:
        """Return False when the user does not exist. Disabling also revokes every device."""

    async def create_invite_code(self, invite: InviteCode) -> None: ...

    # Devices and tokens -----------------------------------------------------------------------
    async def create_device(self, device: Device) -> None: ...

    async def get_device(self, device_id: str) -> Device | None: ...

    async def list_devices(self, user_id: str, include_revoked: bool = False) -> list[Device]: ...

    async def revoked_among(self, device_ids: Collection[str]) -> set[str]:
        """Those of ``device_ids`` that are revoked or unknown."""

    async def revoke_device(self, device_id: str) -> bool:
        """Mark revoked and delete its refresh tokens, key packages and mail. False if unknown."""

    async def touch_device(self, device_id: str, now: int) -> None: ...

    async def add_refresh_token(self, token: RefreshToken) -> None: ...

    async def rotate_refresh_token(
        self, old_hash: bytes, new_token: RefreshToken, now: int
    ) -> RefreshToken | None:
        """Exchange ``old_hash`` for ``new_token`` atomically.

        Returns the old record as it was before the call, or None if it is unknown. When the old
        record was already rotated (``rotated_at`` set) or belongs to another family than
        ``new_token``, nothing is written: the caller treats that as reuse.
        """

    # Rooms and events -------------------------------------------------------------------------
    async def create_room(
        self, room: Room, first_event: NewEvent, owner: MembershipChange
    ) -> Event:
        """Insert the room, its owner membership and its first timeline event (seq 1)."""

    async def get_room(self, room_id: str) -> Room | None: ...

    async def list_rooms_for_user(self, user_id: str) -> list[Room]:
        """Rooms where the user is joined or invited."""

    async def list_members(self, room_id: str) -> list[Member]:
        """Members whose state is joined or invited."""

    async def get_member(self, room_id: str, user_id: str) -> Member | None: ...

    async def append_event(
        self,
        event: NewEvent,
        membership: MembershipRule | None = None,
        mls: Header | None = None,
        welcomes: Sequence[NewMail] = (),
    ) -> tuple[Event, bool]:
        """Store an event with the room's next sequence number, in one transaction.

        If ``(room_id, sender_device, client_id)`` was stored before, nothing is written and the
        original event is returned with ``True``. ``membership``, when given, is called with the
        room's joined and invited members as they are under the room's lock, and the change it
        returns is applied in the same transaction; if it raises, nothing is stored.
        ``mls``, the header of an MLS body, is admitted against the room's
        epoch in the same transaction (``core.delivery.admit``): ``StaleEpoch`` stores nothing,
        and an accepted commit moves the room to the next epoch.
        ``welcomes`` are put in their devices' mailboxes (as ``put_mail``) in the same
        transaction, and only when the event is stored: not for a duplicate nor a refusal.
        """

    async def append_events(self, appends: Sequence[Append]) -> list[AppendResult]:
        """``append_event`` for each of ``appends``, all in ONE transaction (one commit).

        Each append is judged as if alone, in the order given within a room: a duplicate returns
        the original, and one whose rule or MLS admission raises stores nothing (welcomes
        included) and gets its exception as its result without touching the others. Results
        follow the input order; each stored append's ``mailed`` holds its welcomes' mail.
        An exception raised by the call itself (the database failed) means nothing was stored.
        """

    async def mls_epoch(self, room_id: str) -> tuple[int, bytes | None]:
        """The room's MLS epoch and the GroupInfo published for it, if any."""

    async def set_group_info(self, room_id: str, epoch: int, group_info: bytes) -> bool:
        """Keep ``group_info`` as the room's latest; False (and no write) unless the room is at
        ``epoch``."""

    async def events_after(self, room_id: str, after: int, limit: int) -> list[Event]:
        """Events with ``seq > after``, ascending, at most ``limit``."""

    async def events_after_each(self, cursors: Mapping[str, int], limit: int) -> list[Event]:
        """The events of each room in ``cursors`` with ``seq`` past the room's cursor, ordered by
        room id and then ``seq``, at most ``limit`` in all.

        Every event past the cursors may be read before the first ``limit`` are kept: callers
        keep the cursors near the rooms' ends (a replay groups rooms by the events they hold)."""

    async def events_before(self, room_id: str, before: int, limit: int) -> list[Event]:
        """The ``limit`` events just before ``before``, ascending."""

    async def set_receipt(self, room_id: str, user_id: str, seq: int) -> bool:
        """Raise the user's read marker; False (and no write) if it would move backwards."""

    # Device mailbox ---------------------------------------------------------------------------
    async def put_mail(self, mails: list[NewMail]) -> list[Mail]: ...

    async def mail_after(self, device_id: str, after: int, limit: int) -> list[Mail]: ...

    async def ack_mail(self, device_id: str, up_to: int) -> int:
        """Delete the device's mail with ``id <= up_to``; return how many."""

    # Key directory ----------------------------------------------------------------------------
    async def set_device_keys(self, device_id: str, keys: bytes) -> None: ...

    async def get_device_keys(self, user_id: str) -> list[tuple[str, bytes | None]]:
        """``(device_id, keys)`` for each active device of the user."""

    async def add_key_packages(
        self, device_id: str, one_time: list[bytes], last_resort: bytes | None
    ) -> int:
        """Add one-time packages (and replace the last-resort one); return the one-time count."""

    async def count_key_packages(self, device_id: str) -> tuple[int, bool]: ...

    async def claim_key_packages(self, user_id: str) -> list[ClaimedPackage]:
        """One package per active device: a one-time one, handed out exactly once, or else the
        last-resort one (which is kept). Safe under concurrent claims."""
