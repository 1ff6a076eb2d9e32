"""The reads of every connect on PostgreSQL, readers' reads taken together (``store/coalesce.py``).

A reconnect storm on PostgreSQL was thousands of one-row round trips through the store's few
connections: each connect read its device, its rooms, its rooms' news and its mail. Readers of a
kind that arrive together now share one statement:

- devices and rooms of many readers: one ``= ANY`` read each;
- mail of many devices, each past its own cursor: one read over ``unnest`` and ``LATERAL``;
- the news of rooms past given cursors: readers asking for the same (clients of one room, all up
  to date when their server went away, ask alike) share one read.

SQLite needs none of this: its reads run on the event loop's own thread, one at a time, each
costing the loop less than a round trip to PostgreSQL would (``store/reads.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sottovoce.core.models import Device, Event, Mail, MemberState, Room
from sottovoce.store import reads
from sottovoce.store.coalesce import Coalescer
from sottovoce.store.pg_pool import Connections

# Loads of one kind in flight at once: the store has five connections, and appends need them too.
LANES = 2
# Keys per statement: a page of parameters that PostgreSQL plans and runs in a few milliseconds.
MAX_KEYS = 500


_DEVICES = """
SELECT devices.device_id, devices.user_id, devices.display_name, devices.created_at,
    devices.last_seen_at, devices.revoked
FROM devices WHERE devices.device_id = ANY($1::text[])
"""
# In the order of ``reads.ROOMS_OF_USER``, which is each user's order here too.
_ROOMS_OF_USERS = """
SELECT members.user_id,
    rooms.room_id, rooms.kind, rooms.name, rooms.created_by, rooms.created_at, rooms.last_seq
FROM rooms JOIN members ON members.room_id = rooms.room_id
WHERE members.user_id = ANY($1::text[]) AND members.state IN ('joined', 'invited')
ORDER BY rooms.created_at, rooms.room_id
"""
# Each cursor's own page, named by its cursor: one device may be asked for from two.
_MAIL_AFTER = """
SELECT cursors.after,
    mail.id, mail.recipient_device, mail.sender, mail.sender_device, mail.kind, mail.body, mail.ts
FROM unnest($1::text[], $2::bigint[]) AS cursors (device, after)
CROSS JOIN LATERAL (
    SELECT * FROM mailbox
    WHERE mailbox.recipient_device = cursors.device AND mailbox.id > cursors.after
    ORDER BY mailbox.id LIMIT $3
) AS mail
ORDER BY mail.id
"""


def _selected(statement: str) -> list[str]:
    listed = statement.split("SELECT", 1)[1].split("\nFROM", 1)[0]
    return [column.strip().rsplit(".", 1)[-1] for column in listed.split(",")]


# Rows become records by position, so each statement must list its record's fields in order.
for _record, _statement in ((Device, _DEVICES), (Room, _ROOMS_OF_USERS), (Mail, _MAIL_AFTER)):
    if _selected(_statement)[-len(_record.__slots__) :] != list(_record.__slots__):
        raise RuntimeError(f"{_record.__name__}'s fields are not the columns of {_statement}")
if (MemberState.JOINED.value, MemberState.INVITED.value) != ("joined", "invited"):
    raise RuntimeError("the member states read are not MemberState's")

EventsRead = Callable[[Mapping[str, int], int], Awaitable[list[Event]]]
# ``events_after_each``'s arguments as a key: the cursors, sorted, and the limit.
NewsKey = tuple[tuple[tuple[str, int], ...], int]


class Batches:
    def __init__(self, pool: Connections, events_after_each: EventsRead) -> None:
        self._pool = pool
        self._events_after_each = events_after_each
        self._devices = Coalescer(self._load_devices, lanes=LANES, max_keys=MAX_KEYS)
        self._rooms = Coalescer(self._load_rooms, lanes=LANES, max_keys=MAX_KEYS)
        self._mail = Coalescer(self._load_mail, lanes=LANES, max_keys=MAX_KEYS)
        # One key per load: different cursors make different statements.
        self._news = Coalescer(self._load_news, lanes=LANES, max_keys=1)

    async def device(self, device_id: str) -> Device | None:
        return await self._devices.get(device_id)

    async def rooms_of_user(self, user_id: str) -> list[Room]:
        return list(await self._rooms.get(user_id))

    async def mail_after(self, device_id: str, after: int, limit: int) -> list[Mail]:
        return list(await self._mail.get((device_id, after, limit)))

    async def events_after_each(self, cursors: Mapping[str, int], limit: int) -> list[Event]:
        return list(await self._news.get((tuple(sorted(cursors.items())), limit)))

    async def _load_devices(self, keys: Sequence[str]) -> dict[str, Device | None]:
        found: dict[str, Device | None] = dict.fromkeys(keys)
        for row in await self._pool.fetch(_DEVICES, list(keys)):
            device = reads.DEVICE.record(row)
            found[device.device_id] = device
        return found

    async def _load_rooms(self, keys: Sequence[str]) -> dict[str, list[Room]]:
        found: dict[str, list[Room]] = {user: [] for user in keys}
        for row in await self._pool.fetch(_ROOMS_OF_USERS, list(keys)):
            found[row[0]].append(reads.ROOMS_OF_USER.record(tuple(row)[1:]))
        return found

    async def _load_mail(
        self, keys: Sequence[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], list[Mail]]:
        # One statement per limit asked for (the gateway always asks for a page).
        by_limit: defaultdict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for key in keys:
            by_limit[key[2]].append(key)
        found: dict[tuple[str, int, int], list[Mail]] = {key: [] for key in keys}
        for limit, asked in by_limit.items():
            devices, afters = [key[0] for key in asked], [key[1] for key in asked]
            for row in await self._pool.fetch(_MAIL_AFTER, devices, afters, limit):
                mail = reads.MAIL_AFTER.record(tuple(row)[1:])
                found[mail.recipient_device, row[0], limit].append(mail)
        return found

    async def _load_news(self, keys: Sequence[NewsKey]) -> dict[NewsKey, list[Event]]:
        [key] = keys
        cursors, limit = key
        return {key: await self._events_after_each(dict(cursors), limit)}
