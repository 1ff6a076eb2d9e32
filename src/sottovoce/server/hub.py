"""This node's live connections, indexed by user, device and joined room, and the fan-out to them.

Everything here is synchronous: a notification is rendered (down to its WebSocket frame) once and
pushed to each recipient, in the order the bus delivers it, without touching the database. The
room index follows membership events as they pass, so it needs no lookups either.

Messages published one after another in one room (a group-commit batch) make a run, pushed to
each member once, as one item, at the end of the pass (``Outbox.defer``), just before the writes
it would have joined anyway: a push per member per run instead of per message. Anything else
that reaches the hub (another room, a membership event, an ephemeral frame, mail, a revocation,
a connection added or removed) pushes the run first, so every connection still gets its frames
in the order they were published; only frames pushed to a connection without the hub, such as a
sender's acknowledgements, may go ahead of the run (each still before its own event).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sottovoce.bus.base import DevicesRevoked, Ephemeral, EventStored, MailStored, Notification
from sottovoce.core.frames import event_frame, mail_frame
from sottovoce.core.models import MemberState
from sottovoce.server.connection import CLOSE_REVOKED, Connection, Outbound, Outbox


class Hub:
    def __init__(self) -> None:
        self._by_user: defaultdict[str, set[Connection]] = defaultdict(set)
        self._by_device: defaultdict[str, set[Connection]] = defaultdict(set)
        self._by_room: defaultdict[str, set[Connection]] = defaultdict(set)
        # A tuple, not a set: an empty set is 216 bytes in every connection without a room, and
        # a connection's rooms change only with membership events.
        self._rooms_of: dict[Connection, tuple[str, ...]] = {}
        # The connections' outbox (the gateway's, shared by all), once one has been added;
        # without it events are pushed one by one.
        self._outbox: Outbox | None = None
        # The run of the pass: its room's connections and events, not pushed yet.
        self._run_to: tuple[Connection, ...] = ()
        self._run: list[Outbound] = []

    def __len__(self) -> int:
        return len(self._rooms_of)

    def connections(self) -> list[Connection]:
        return list(self._rooms_of)

    def user_online(self, user_id: str) -> bool:
        return bool(self._by_user.get(user_id))

    def add(self, conn: Connection, joined_rooms: Iterable[str]) -> None:
        self._push_run()
        if conn.outbox is not None:
            self._outbox = conn.outbox
        rooms = tuple(joined_rooms)
        self._rooms_of[conn] = rooms
        self._by_user[conn.user_id].add(conn)
        self._by_device[conn.device_id].add(conn)
        for room in rooms:
            self._by_room[room].add(conn)

    def remove(self, conn: Connection) -> None:
        self._push_run()
        for room in self._rooms_of.pop(conn, ()):
            self._leave_index(self._by_room, room, conn)
        self._leave_index(self._by_user, conn.user_id, conn)
        self._leave_index(self._by_device, conn.device_id, conn)

    @staticmethod
    def _leave_index(index: defaultdict[str, set[Connection]], key: str, conn: Connection) -> None:
        members = index.get(key)
        if members is not None:
            members.discard(conn)
            if not members:
                del index[key]

    def on_notification(self, note: Notification) -> None:
        if isinstance(note, EventStored):
            self._event(note)
            return
        self._push_run()
        if isinstance(note, Ephemeral):
            self._ephemeral(note)
        elif isinstance(note, MailStored):
            self._mail(note)
        elif isinstance(note, DevicesRevoked):
            for device in note.device_ids:
                for conn in list(self._by_device.get(device, ())):
                    conn.close(CLOSE_REVOKED, "device revoked")

    def _event(self, note: EventStored) -> None:
        event = note.event
        room_id = event.room_id
        change = note.change
        run = self._run
        if change is None and run and run[0].room_id == room_id:
            run.append(Outbound(event_frame(event), room_id, event.seq))
            return
        self._push_run()
        if change is None:
            members = self._by_room.get(room_id)
            if not members:
                return
            item = Outbound(event_frame(event), room_id, event.seq)
            if self._outbox is None:
                for conn in members:
                    conn.push(item)
                return
            self._run_to = tuple(members)
            run.append(item)
            self._outbox.defer(self._push_run)
            return
        recipients = set(self._by_room.get(room_id, ()))
        targets = list(self._by_user.get(change.user_id, ()))
        # Invitees, leavers and the kicked see the event that concerns them.
        recipients.update(targets)
        if recipients:
            item = Outbound(event_frame(event), room_id, event.seq)
            for conn in recipients:
                conn.push(item)
        for conn in targets:
            rooms = self._rooms_of.get(conn)
            if rooms is None:
                continue
            if change.state is MemberState.JOINED:
                if room_id not in rooms:
                    self._rooms_of[conn] = (*rooms, room_id)
                self._by_room[room_id].add(conn)
            elif change.state in (MemberState.LEFT, MemberState.KICKED):
                self._rooms_of[conn] = tuple(room for room in rooms if room != room_id)
                self._leave_index(self._by_room, room_id, conn)

    def _push_run(self) -> None:
        run = self._run
        if not run:
            return
        item = Outbound.joined(run)
        run.clear()
        recipients, self._run_to = self._run_to, ()
        for conn in recipients:
            conn.push(item)

    def _ephemeral(self, note: Ephemeral) -> None:
        item = Outbound(note.frame)
        for user in note.recipients:
            for conn in self._by_user.get(user, ()):
                if conn.device_id != note.exclude_device:
                    conn.push(item)

    def _mail(self, note: MailStored) -> None:
        conns = self._by_device.get(note.device_id)
        if not conns:
            return
        for mail in note.mails:
            item = Outbound(mail_frame(mail), mail_id=mail.id)
            for conn in conns:
                conn.push(item)
