"""Rooms as MLS groups on the client: the ``BodyCodec`` that encrypts and decrypts message bodies,
and the membership flows that keep each room's group in step with the server's room.

The group id of a room is its room id in UTF-8. Each device has an MLS signature key certified by
its user's identity key (``identity.DeviceKeys``); its credential in every group is that
certificate, and the certificate is what the device publishes in the key directory. Credentials
are accepted only if certified by the identity key the trust book holds for the user, which is
learnt from the key directory on first use; a change raises a warning (``trust.TrustBook``).

Flows (each commit is sent through the room timeline, where the server accepts exactly one per
epoch; a refused one is dropped, the room's newer events are processed and the commit re-made):
- create: the server room, then a one-member group;
- invite: the server invite, then claim the invitee's key packages, commit Add with the Welcome
  for each new device (the server stores them in those mailboxes, kind ``mls.welcome``, in the
  commit's transaction), publish the new GroupInfo;
- accept: join the group from a Welcome found in the mailbox, then join the server room;
- remove: kick on the server, then commit Remove of the user's every leaf (the kick first, so
  that members checking the commit find the user already gone from the room);
- leave: MLS forbids committing one's own removal, so the leaving device sends a Remove proposal
  for each leaf of its user, then leaves on the server and forgets the group; every member
  commits pending proposals before it sends a message, so nothing sent after the leave is
  readable by the leaver. A member accepts a Remove proposal only for the proposer's own user;
- remove a revoked device: a device of the same user commits Remove of its leaves in every room;
  a device signing out itself (``sign_out``) proposes its own removal, like a leave;
- join by external commit (a newly linked device, ``join_rooms``): from the room's published
  GroupInfo, sent through the timeline; members accept it only from a device of a user who is a
  joined member of the room on the server;
- reconciling: a user can lose the server room without the MLS step (a kick through the plain
  API, a crash between the leave and its proposals, a client without E2EE). While catching up, a
  device notes the users whose membership event ends their membership (leave, kick; invite and
  join cancel it); before it sends, it commits, with the pending proposals, a Remove of every leaf
  of a noted user. Members accept a commit removing another user's leaves (other than by that
  user's own proposals) only if the user is no longer invited or joined on the server (the
  events caught up, up to the commit's place in the timeline, or the room's view now); otherwise
  ``RemovalRefused``, the group unchanged.

The identity key is given, kept in the keystore, or created by ``start`` for a user's first
device. A user whose key directory already lists a certified device gets no second identity key:
``start`` raises ``DeviceNotLinked`` and the device receives the key by linking
(``device_link.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from sottovoce.client.e2ee_errors import E2EEError, LinkingError
from sottovoce.client.e2ee_store import CryptoRecords
from sottovoce.client.identity import (
    DeviceCertificate,
    DeviceKeys,
    IdentityKeyPair,
    credential_validator,
    validate_credential,
)
from sottovoce.client.keystore import Keystore
from sottovoce.client.padding import pad, unpad
from sottovoce.client.records import RoomInfo, Sent
from sottovoce.client.sdk import SottoClient
from sottovoce.client.trust import IdentityKeyChanged, TrustBook, TrustRecord, safety_number
from sottovoce.core.delivery import read_header
from sottovoce.core.errors import BadRequest, NotMember, StaleEpoch
from sottovoce.core.models import EventKind, MemberState, RoomKind
from sottovoce.mls import (
    ApplicationMessage,
    CommitApplied,
    CommitOutput,
    Credential,
    Group,
    GroupConfig,
    KeyPackageBundle,
    MLSError,
    ProposalReceived,
    generate_key_package,
    key_package_message,
    parse_key_package,
)
from sottovoce.mls._codec import decode_all
from sottovoce.mls._commit import Commit
from sottovoce.mls._framing_structs import (
    ContentType,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    SenderType,
)
from sottovoce.mls._proposals import Remove

T = TypeVar("T")

WELCOME_KIND = "mls.welcome"
KEY_PACKAGE_BATCH = 20
KEY_PACKAGE_LOW = 5
PAGE = 500
COMMIT_ATTEMPTS = 8
# A GroupInfo may lag its commit by one request of the committer: wait a little before a retry.
EXTERNAL_JOIN_PAUSE = 0.2


class UndecryptableMessage(E2EEError):
    """A room message this device cannot decrypt: forged, replayed, for an epoch it never had,
    or sent after it was removed."""

    code = "undecryptable_message"


class ReplayedMessage(UndecryptableMessage):
    """The server handed out a message this device already read, at another place in the
    room's timeline: a replay, not shown twice."""

    code = "replayed_message"


class DeviceNotLinked(LinkingError):
    """This device has no identity key and its user already has one (held by their certified
    devices): it must receive that key by linking instead of creating a second one."""

    code = "device_not_linked"


class ExternalJoinRefused(UndecryptableMessage):
    """A device joined a room's group by external commit, but its user is not a joined member
    of the room: the commit is not applied."""

    code = "external_join_refused"


class RemovalRefused(UndecryptableMessage):
    """A member committed the removal of another user who is still invited or joined on the
    server: the commit is not applied."""

    code = "removal_refused"


class _RemovalUnexplained(Exception):
    """Inside ``catch_up`` only: a commit removes users whom the member events noted so far
    do not show as gone; the page is read again event by event."""


# The room whose whole page the current task's ``catch_up`` is reading, if any: only there may
# a removal wait for the page's member events (another task opening a message decides at once).
_PAGING: contextvars.ContextVar[str | None] = contextvars.ContextVar("paging", default=None)


class MemoryTrust:
    """Trust records in memory, for clients without a keystore (tests, throwaway sessions)."""

    def __init__(self) -> None:
        self._records: dict[str, TrustRecord] = {}

    def load_trust(self, user_id: str) -> TrustRecord | None:
        return self._records.get(user_id)

    def save_trust(self, record: TrustRecord) -> None:
        self._records[record.user_id] = record

    def all_trust(self) -> list[TrustRecord]:
        return list(self._records.values())


async def published_identity_keys(
    sdk: SottoClient, user_id: str, *, other_than: str | None = None
) -> set[bytes]:
    """The identity keys that certify ``user_id``'s devices in the key directory (validly
    signed certificates of that user only, leaving out device ``other_than``): one for a user
    with devices, none for a new one."""
    keys: set[bytes] = set()
    for device_id, blob in (await sdk.device_keys(user_id)).items():
        if blob is None or device_id == other_than:
            continue
        try:
            cert = DeviceCertificate.from_bytes(blob)
        except E2EEError:
            continue
        if cert.user_id == user_id and cert.signature_is_valid():
            keys.add(cert.identity_key)
    return keys


def _digest(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


class RoomCrypto:
    """One device's MLS groups; pass it as the ``codec`` of its ``SottoClient``, then ``start``."""

    def __init__(
        self, identity: IdentityKeyPair | None = None, store: Keystore | None = None
    ) -> None:
        """``identity``: the user's identity key; without it, the one kept in ``store``, else
        ``start`` creates one for a user's first device. ``store``: the profile's keystore, to
        keep every secret and decrypted message across restarts; without it they live as long
        as this object."""
        self._records = CryptoRecords(store)
        held = self._records.load_identity()
        self._identity: IdentityKeyPair | None = identity or (None if held is None else held[1])
        self._identity_owner = None if held is None else held[0]
        self.trust = TrustBook(store if store is not None else MemoryTrust())
        self._trusted = credential_validator(self.trust.identity_key)
        self._config = GroupConfig(self._validate)
        # Users whose certificate did not match the identity key held for them: fetched from the
        # key directory before the message is processed again.
        self._unmet: set[str] = set()
        self._surveying = False
        self._sdk: SottoClient | None = None
        self._device: DeviceKeys | None = self._records.load_device()
        self._bundles: list[KeyPackageBundle] = self._records.load_bundles()
        loaded = self._records.load_groups(self._config)
        self._groups: dict[str, Group] = {room: group for room, (group, _) in loaded.items()}
        # The epoch at which this device joined each group: older messages were never its to read.
        self._joined_at: dict[str, int] = {room: epoch for room, (_, epoch) in loaded.items()}
        # Every body opened or sent, by digest: a body is processed by MLS exactly once, and the
        # sender's own messages (which MLS cannot decrypt for it) read back as sent.
        self._opened: dict[bytes, bytes] = self._records.load_opened()
        # Where each of those was first read; own messages get theirs when read back.
        self._places: dict[bytes, int] = self._records.load_places()
        self._locks: dict[str, asyncio.Lock] = {}
        # The seq up to which catch_up has processed each room; kept, so that a new process (each
        # CLI command) does not page through the whole history again.
        self._caught_up: dict[str, int] = self._records.load_cursors()
        # Per room, the users whose membership the events caught up ended (leave, kick): their
        # leaves are removed before this device next sends. Seeded from the server's room view
        # once per process, since a previous process may have caught up past the events.
        self._departed: dict[str, set[str]] = {}
        self.refused: list[str] = []
        """What this device refused to apply (a proposal it will not commit), for the user."""

    # Setting up -------------------------------------------------------------------------------

    @property
    def sdk(self) -> SottoClient:
        if self._sdk is None:
            raise E2EEError("call start() after signing in first")
        return self._sdk

    @property
    def device(self) -> DeviceKeys:
        if self._device is None:
            raise E2EEError("call start() after signing in first")
        return self._device

    @property
    def identity(self) -> IdentityKeyPair:
        if self._identity is None:
            raise DeviceNotLinked("this device has no identity key yet: link it first")
        return self._identity

    @property
    def linked(self) -> bool:
        """Whether this device holds its user's identity key."""
        return self._identity is not None

    async def start(self, sdk: SottoClient) -> None:
        """Certify this device, publish the certificate and key packages. A device without an
        identity key creates one, unless its user already has certified devices
        (``DeviceNotLinked``: link it with ``device_link``)."""
        session = sdk.session
        if session is None:
            raise E2EEError("sign in before starting end-to-end encryption")
        if self._identity_owner not in (None, session.user_id):
            raise E2EEError(
                f"this keystore holds the keys of {self._identity_owner}, not of "
                f"{session.user_id}: use another profile"
            )
        self._sdk = sdk
        if self._identity is None:
            # This device's own certificate, if any, is of a key its keystore has lost.
            others = await published_identity_keys(
                sdk, session.user_id, other_than=session.device_id
            )
            if others:
                raise DeviceNotLinked(
                    f"{session.user_id} already has an identity key, held by its other devices: "
                    "link this device to one of them instead of creating a second key"
                )
            self._identity = IdentityKeyPair.generate()
        if self._identity_owner is None:
            self._records.save_identity(session.user_id, self._identity)
            self._identity_owner = session.user_id
        device = self._device
        restarted = device is not None and device.certificate.device_id == session.device_id
        if device is None or not restarted:
            device = DeviceKeys.create(self._identity, session.user_id, session.device_id)
            self._records.save_device(device)
            self._device = device
        self.trust.observe(session.user_id, self._identity.public)
        await sdk.publish_device_keys(device.certificate.to_bytes())
        await self.top_up(force=not restarted)

    def adopt_identity(self, identity: IdentityKeyPair) -> None:
        """Take the identity key received by linking; ``start`` then certifies this device."""
        if self._identity is not None and self._identity.public != identity.public:
            raise E2EEError("this device already holds another identity key")
        self._identity = identity

    def _fresh_bundle(self) -> KeyPackageBundle:
        device = self.device
        return generate_key_package(
            device.certificate.to_bytes(), signature_priv=device.signature_private
        )

    def _new_bundle(self) -> KeyPackageBundle:
        bundle = self._fresh_bundle()
        self._bundles.append(bundle)
        return bundle

    async def top_up(self, *, force: bool = False) -> None:
        """Upload fresh one-time key packages when few are left (and a last-resort one at start)."""
        count, has_last_resort = await self.sdk.key_package_count()
        if count >= KEY_PACKAGE_LOW and has_last_resort and not force:
            return
        bundles = [self._new_bundle() for _ in range(KEY_PACKAGE_BATCH + (not has_last_resort))]
        # Kept before they are published: a Welcome may arrive for any published package.
        self._records.save_bundles(bundles)
        fresh = [key_package_message(b) for b in bundles[:KEY_PACKAGE_BATCH]]
        last_resort = None if has_last_resort else key_package_message(bundles[-1])
        await self.sdk.upload_key_packages(fresh, last_resort)

    # Identities -------------------------------------------------------------------------------

    async def learn(self, user_id: str) -> IdentityKeyChanged | None:
        """Fetch ``user_id``'s identity key from the certificates in the key directory and
        remember it (trust on first use); the warning when it replaced a known key."""
        keys = await published_identity_keys(self.sdk, user_id)
        if len(keys) != 1:
            raise E2EEError(f"the key directory holds no single identity key for {user_id}")
        return self.trust.observe(user_id, keys.pop())

    async def safety_number(self, user_id: str) -> tuple[str, bytes]:
        """The safety number of this user and ``user_id`` (their key fetched from the key
        directory), and the key it was computed from, for ``trust.mark_verified``."""
        await self.learn(user_id)
        theirs = self.trust.identity_key(user_id)
        assert theirs is not None  # learn() has just stored it
        own = self.device.certificate.user_id
        return safety_number(own, self.identity.public, user_id, theirs), theirs

    def _validate(self, credential: Credential, signature_key: bytes) -> bool:
        if self._trusted(credential, signature_key):
            return True
        try:
            cert = validate_credential(credential.identity, signature_key, None)
        except E2EEError:
            return False
        self._unmet.add(cert.user_id)
        # While surveying, a user never met passes so that one run lists them all.
        return self._surveying and self.trust.identity_key(cert.user_id) is None

    async def _with_identities(self, step: Callable[[], T], *, pure: bool = False) -> T:
        """Run an MLS step that validates credentials; while it fails on users whose identity key
        this device does not hold (or holds another one of), fetch theirs and run it again.
        A ``pure`` step (no side effects) is first run once only to list the unknown users."""
        learnt: set[str] = set()
        if pure:
            self._unmet.clear()
            self._surveying = True
            try:
                step()
            except MLSError:
                pass  # the real run below raises what is still wrong
            finally:
                self._surveying = False
            learnt = set(self._unmet)
            for user_id in learnt:
                await self.learn(user_id)
        while True:
            self._unmet.clear()
            try:
                return step()
            except MLSError:
                unmet = self._unmet - learnt
                if not unmet:
                    raise
            for user_id in unmet:
                await self.learn(user_id)
            learnt |= unmet

    # Rooms ------------------------------------------------------------------------------------

    async def create_room(
        self, name: str | None = None, kind: RoomKind = RoomKind.GROUP, invite: Sequence[str] = ()
    ) -> str:
        """``invite``: users invited with the room (a direct room's one other user), whose
        devices are then added to the group."""
        room = await self.sdk.create_room(name, kind=kind, invite=invite)
        group = Group.create(room.room_id.encode(), self._new_bundle(), self._config)
        self._groups[room.room_id] = group
        self._joined_at[room.room_id] = 0
        self._records.save(room.room_id, group, 0)
        await self._publish_group_info(room.room_id)
        for user_id in invite:
            await self.add_devices(room.room_id, user_id)
        return room.room_id

    async def invite(self, room_id: str, user_id: str) -> None:
        """Invite ``user_id`` on the server and add every device of theirs to the group."""
        await self.sdk.invite(room_id, user_id)
        await self.add_devices(room_id, user_id)

    async def add_devices(self, room_id: str, user_id: str) -> None:
        await self.learn(user_id)
        own = self.device.certificate.device_id
        claimed = [p for p in await self.sdk.claim_key_packages(user_id) if p.device_id != own]
        packages = [parse_key_package(p.package) for p in claimed]
        if not packages:
            raise E2EEError(f"{user_id} has no device with a key package to add")
        welcome_to = [(user_id, p.device_id) for p in claimed]
        await self._commit(room_id, lambda group: group.commit(add=packages), welcome_to)

    async def remove(self, room_id: str, user_id: str) -> None:
        """Kick ``user_id`` on the server, then remove every device of theirs from the group
        (were this device to stop in between, the next member to send removes them)."""
        await self.sdk.kick(room_id, user_id)
        await self._commit(room_id, lambda group: group.commit(remove=_leaves_of(group, user_id)))

    async def leave(self, room_id: str) -> None:
        """Propose the removal of every device of this user, leave the server room, and forget
        the group. The next member to commit (at the latest, before its next message) commits
        the proposals."""
        own = self.device.certificate.user_id
        await self._propose_removal(room_id, lambda group: _leaves_of(group, own))
        await self.sdk.leave(room_id)
        self._forget(room_id)

    async def sign_out(self) -> list[str]:
        """Before this device signs out for good: propose the removal of its own leaf from every
        group, so that it gets no key for what is sent afterwards; the rooms concerned."""
        rooms = [room_id for room_id, group in self._groups.items() if group.active]
        for room_id in rooms:
            # A room this user was removed from on the server takes nothing more from it.
            with contextlib.suppress(NotMember):
                await self._propose_removal(room_id, lambda group: [group.own_leaf])
            self._forget(room_id)
        return rooms

    async def _propose_removal(self, room_id: str, leaves: Callable[[Group], list[int]]) -> None:
        for _ in range(COMMIT_ATTEMPTS):
            group = self._group(room_id)
            proposals = [group.propose_remove(leaf) for leaf in leaves(group)]
            try:
                for proposal in proposals:
                    await self.sdk.send(room_id, proposal, sealed=True)
            except StaleEpoch:
                # A commit moved the group on, dropping proposals of the old epoch: again.
                await self.catch_up(room_id)
                continue
            return
        raise E2EEError(f"{room_id} kept moving to new epochs; try again later")

    async def remove_device(self, device_id: str) -> list[str]:
        """Remove the leaves of ``device_id`` (a revoked device of this user) from every group
        this device is in; the rooms it was removed from."""
        own = self.device.certificate.user_id

        def leaves(group: Group) -> list[int]:
            return [
                leaf
                for leaf, cert in _certificates(group).items()
                if cert.user_id == own and cert.device_id == device_id
            ]

        removed: list[str] = []
        for room_id, group in list(self._groups.items()):
            if not group.active:
                continue
            await self.catch_up(room_id)
            if leaves(self._group(room_id)):
                await self._commit(room_id, lambda group: group.commit(remove=leaves(group)))
                removed.append(room_id)
        return removed

    async def accept_welcomes(self) -> list[str]:
        """Join the groups (and server rooms) this device was welcomed to; their room ids."""
        joined: list[str] = []
        mails, _ = await self.sdk.mailbox(limit=PAGE)
        for mail in mails:
            if mail.kind == WELCOME_KIND:
                room_id = await self._join_from(mail.body)
                if room_id is not None:
                    joined.append(room_id)
        if mails:
            await self.sdk.ack_mailbox(mails[-1].id)
        if joined:
            # Each join consumed a key package: replace them before they run out.
            await self.top_up()
        return joined

    async def _join_from(self, welcome: bytes) -> str | None:
        for bundle in self._bundles:
            try:
                group = await self._with_identities(
                    functools.partial(Group.join, welcome, bundle, self._config), pure=True
                )
            except MLSError:
                continue
            room_id = group.group_id.decode()
            self._bundles.remove(bundle)
            self._groups[room_id] = group
            self._joined_at[room_id] = group.epoch
            self._records.save(room_id, group, group.epoch, used_bundle=bundle)
            room = await self.sdk.room(room_id)
            if not _joined(room, self.device.certificate.user_id):
                await self.sdk.join(room_id)
            return room_id
        return None

    async def join_rooms(self) -> list[str]:
        """Join the group of every room this user is joined to on the server and this device
        is not in yet (a newly linked device), by external commit; their room ids."""
        own = self.device.certificate.user_id
        joined: list[str] = []
        for room in await self.sdk.rooms():
            if _joined(room, own) and room.room_id not in self._groups:
                await self.join_external(room.room_id)
                joined.append(room.room_id)
        return joined

    async def join_external(self, room_id: str) -> None:
        """Join the room's group from the GroupInfo its members publish: an external commit sent
        through the timeline; when another commit won the epoch, again from the newer GroupInfo."""
        for attempt in range(COMMIT_ATTEMPTS):
            _, info = await self.sdk.group_info(room_id)
            join = functools.partial(Group.join_external, info, self._fresh_bundle(), self._config)
            try:
                group, commit = await self._with_identities(join, pure=True)
            except MLSError as exc:
                raise E2EEError(f"cannot join the group of {room_id}: {exc}") from exc
            if group.group_id != room_id.encode():
                raise E2EEError(f"the server's GroupInfo for {room_id} is of another group")
            try:
                await self.sdk.send(room_id, commit, sealed=True)
            except StaleEpoch:
                await asyncio.sleep(EXTERNAL_JOIN_PAUSE * (attempt + 1))
                continue
            self._groups[room_id] = group
            self._joined_at[room_id] = group.epoch
            self._opened[_digest(commit)] = b""
            self._records.save(room_id, group, group.epoch, (_digest(commit), b""))
            await self._publish_group_info(room_id)
            return
        raise E2EEError(f"{room_id} kept moving to new epochs; try again later")

    # Messages ---------------------------------------------------------------------------------

    async def send(self, room_id: str, text: bytes) -> Sent:
        """Send ``text`` encrypted. The room's new events are processed first, and pending
        proposals (a member leaving) committed with the removal of every user who is no longer
        a member on the server, so that a member who has left cannot read it; a send the server
        still refuses as being for an old epoch is sealed again."""
        if room_id not in self._groups:
            # Not a member on the server says so with its own error; a member whose device was
            # never added gets the E2EE one from ``seal``.
            await self.sdk.room(room_id)
        for _ in range(COMMIT_ATTEMPTS):
            await self.catch_up(room_id)
            group = self._group(room_id)
            if group.state.pending or self._departed_leaves(room_id, group):
                await self._commit(
                    room_id,
                    lambda group: group.commit(remove=self._departed_leaves(room_id, group)),
                )
            try:
                return await self.sdk.send(room_id, text)
            except StaleEpoch:
                continue
        raise E2EEError(f"{room_id} kept moving to new epochs; try again later")

    async def catch_up(self, room_id: str) -> None:
        """Process every event of the room this device has not processed yet, noting the users
        whose membership ended."""
        if room_id not in self._departed and room_id in self._groups:
            room = await self.sdk.room(room_id)
            in_group = {cert.user_id for cert in _certificates(self._group(room_id)).values()}
            self._departed[room_id] = {u for u in in_group if not _member(room, u)}
        departed = self._departed.get(room_id, set())
        cursor = self._caught_up.get(room_id, 0)
        # Messages are opened inside ``history``, before this loop notes the page's member
        # events. A removal that the notes do not explain yet stops the page; the events up to
        # it are then taken one at a time, so that it is judged by the membership at its place.
        step_until = cursor
        while True:
            stepping = cursor < step_until
            paging = _PAGING.set(None if stepping else room_id)
            try:
                page = await self.sdk.history(room_id, after=cursor, limit=1 if stepping else PAGE)
            except _RemovalUnexplained:
                step_until = cursor + PAGE
                continue
            finally:
                _PAGING.reset(paging)
            if not page.events:
                return
            for event in page.events:
                if event.kind is EventKind.MEMBER:
                    _note_membership(departed, event.body)
            cursor = page.events[-1].seq
            self._caught_up[room_id] = cursor
            self._records.save_cursor(room_id, cursor)

    async def seal(self, room_id: str, plaintext: bytes) -> bytes:
        group = self._group(room_id)
        body = group.encrypt(pad(plaintext))
        self._opened[_digest(body)] = plaintext
        # The sender's ratchet moved on: keep it, or a restart would reuse a generation.
        self._records.save(room_id, group, self._joined_at[room_id], (_digest(body), plaintext))
        return body

    async def open(self, room_id: str, seq: int, sender_device: str, body: bytes) -> bytes:
        """The plaintext of the room message at ``seq``; handshake messages (commits) read as
        empty. Reading one seq again gives the same plaintext; the same message at another seq
        is a replay (``ReplayedMessage``)."""
        async with self._locks.setdefault(room_id, asyncio.Lock()):
            return await self._open(room_id, seq, sender_device, body)

    async def _open(self, room_id: str, seq: int, sender_device: str, body: bytes) -> bytes:
        digest = _digest(body)
        if digest in self._opened:
            first = self._places.get(digest)
            if first is None:
                self._places[digest] = seq
                self._records.save_place(digest, seq)
            elif first != seq:
                raise ReplayedMessage(
                    f"the message at seq {seq} of {room_id} is a replay of the one at seq {first}"
                )
            return self._opened[digest]
        group = self._group(room_id)
        try:
            header = read_header(room_id, body)
        except BadRequest as exc:
            raise UndecryptableMessage(f"not an MLS message of {room_id}") from exc
        if header.epoch < self._joined_at[room_id]:
            return b""
        joiner = _external_joiner(body)
        if joiner is not None:
            room = await self.sdk.room(room_id)
            if not _joined(room, joiner):
                raise ExternalJoinRefused(
                    f"a device of {joiner} joined the group of {room_id} by itself, but "
                    f"{joiner} is not a joined member of the room: refused"
                )
        # A refused proposal or commit must not stay applied: the group is restored from before
        # it. The cleartext content type is authenticated, so every handshake gets its snapshot.
        handshake = _content_type(body) in (ContentType.PROPOSAL, ContentType.COMMIT)
        before = group.to_bytes() if handshake else None
        certificates = _certificates(group) if handshake else {}
        pending = _pending_removals(group) if handshake else set()
        try:
            received = await self._with_identities(lambda: group.process(body))
        except MLSError as exc:
            raise UndecryptableMessage(f"cannot decrypt a message of {room_id}: {exc}") from exc
        if isinstance(received, CommitApplied) and not received.removed_self:
            committer = joiner or certificates[received.committer.index].user_id
            others = {
                certificates[leaf].user_id
                for leaf in received.removed
                if leaf not in pending and certificates[leaf].user_id != committer
            }
            members = await self._still_members(room_id, others)
            if members:
                assert before is not None
                self._groups[room_id] = Group.from_bytes(before, self._config)
                if _PAGING.get() == room_id:
                    raise _RemovalUnexplained
                raise RemovalRefused(
                    f"{committer} removed {', '.join(sorted(members))} from the group of "
                    f"{room_id}, who {'is' if len(members) == 1 else 'are'} still a member of "
                    "the room: refused"
                )
        refused = isinstance(received, ProposalReceived) and not _self_removal(group, received)
        if refused and before is not None:
            # Dropped, and remembered as read, so that one bad proposal cannot wedge the room.
            group = Group.from_bytes(before, self._config)
            self._groups[room_id] = group
            self.refused.append(
                f"a member of {room_id} proposed something other than removing its own user's "
                "devices: ignored"
            )
        plain = b""
        if isinstance(received, ApplicationMessage):
            # The server names the sending device; MLS proves it. They must agree, or the server
            # is attributing someone's message to another device.
            credential = group.member(received.sender)
            assert credential is not None  # MLS verified the message against this very leaf
            author = DeviceCertificate.from_bytes(credential.identity)
            if author.device_id != sender_device:
                raise UndecryptableMessage(
                    f"a message of {room_id} was sent by device {author.device_id} of "
                    f"{author.user_id}, not by {sender_device} as the server says"
                )
            plain = unpad(received.data)
        self._opened[digest] = plain
        self._places[digest] = seq
        self._records.save(room_id, group, self._joined_at[room_id], (digest, plain), seq=seq)
        return plain

    # Internals --------------------------------------------------------------------------------

    def _departed_leaves(self, room_id: str, group: Group) -> list[int]:
        """The leaves of users whose membership ended, other than those already pending
        removal by their own proposals."""
        departed = self._departed.get(room_id, set())
        pending = _pending_removals(group)
        return [
            leaf
            for leaf, cert in _certificates(group).items()
            if cert.user_id in departed and leaf not in pending
        ]

    async def _still_members(self, room_id: str, users: set[str]) -> set[str]:
        """Those of ``users`` invited or joined both by the events caught up and by the server's
        room view now."""
        users -= self._departed.get(room_id, set())
        if not users:
            return users
        room = await self.sdk.room(room_id)
        return {u for u in users if _member(room, u)}

    def group_certificates(self, room_id: str) -> dict[int, DeviceCertificate]:
        """The device certificate of every member of the room's group, by leaf."""
        return _certificates(self._group(room_id))

    def _group(self, room_id: str) -> Group:
        group = self._groups.get(room_id)
        if group is None or not group.active:
            raise UndecryptableMessage(f"this device is not in the group of {room_id}")
        return group

    async def _commit(
        self,
        room_id: str,
        make: Callable[[Group], CommitOutput],
        welcome_to: Sequence[tuple[str, str]] = (),
    ) -> CommitOutput:
        """``welcome_to``: ``(user_id, device_id)`` of the devices the commit adds; the server
        stores their Welcome with the commit, or neither."""
        for _ in range(COMMIT_ATTEMPTS):
            group = self._group(room_id)
            out = make(group)
            welcome = out.welcome
            welcomes = [] if welcome is None else [(u, d, welcome) for u, d in welcome_to]
            try:
                await self.sdk.send(room_id, out.message, sealed=True, welcomes=welcomes)
            except StaleEpoch:
                # Another member's commit won this epoch: process it and commit again on top.
                group.discard_pending_commit()
                await self.catch_up(room_id)
                continue
            group.merge_pending_commit()
            self._opened[_digest(out.message)] = b""
            opened = (_digest(out.message), b"")
            self._records.save(room_id, group, self._joined_at[room_id], opened)
            await self._publish_group_info(room_id)
            return out
        raise E2EEError(f"{room_id} kept moving to new epochs; try again later")

    def _forget(self, room_id: str) -> None:
        self._groups.pop(room_id, None)
        self._joined_at.pop(room_id, None)
        self._caught_up.pop(room_id, None)
        self._departed.pop(room_id, None)
        self._records.forget(room_id)

    async def _publish_group_info(self, room_id: str) -> None:
        # Refused only when a newer commit won, and its author publishes the newer GroupInfo.
        with contextlib.suppress(StaleEpoch):
            await self.sdk.publish_group_info(room_id, self._group(room_id).group_info())


def _joined(room: RoomInfo, user_id: str) -> bool:
    return any(m.user_id == user_id and m.state is MemberState.JOINED for m in room.members)


def _member(room: RoomInfo, user_id: str) -> bool:
    """Invited or joined: a user whose devices belong in the group."""
    return any(
        m.user_id == user_id and m.state in (MemberState.INVITED, MemberState.JOINED)
        for m in room.members
    )


def _note_membership(departed: set[str], body: bytes) -> None:
    """Update ``departed`` with one member event (``{"action", "target"}``, see
    ``server/rooms.py``)."""
    try:
        change = json.loads(body)
        action, target = change["action"], change["target"]
    except (ValueError, TypeError, KeyError):
        return  # the server writes these events; a malformed one changes nothing
    if action in ("leave", "kick"):
        departed.add(target)
    elif action in ("create", "invite", "join"):
        departed.discard(target)


def _pending_removals(group: Group) -> set[int]:
    """The leaves pending removal by proposals (only self-removals are ever kept pending)."""
    return {
        p.proposal.proposal.body.removed
        for p in group.state.pending
        if isinstance(p.proposal.proposal.body, Remove)
    }


def _certificates(group: Group) -> dict[int, DeviceCertificate]:
    """Each member's device certificate by leaf (every credential was validated on entry)."""
    return {
        leaf: DeviceCertificate.from_bytes(credential.identity)
        for leaf, credential in group.members().items()
    }


def _leaves_of(group: Group, user_id: str) -> list[int]:
    return [leaf for leaf, cert in _certificates(group).items() if cert.user_id == user_id]


def _content_type(body: bytes) -> ContentType | None:
    try:
        message = decode_all(body, MLSMessage.decode).body
    except MLSError:
        return None
    if isinstance(message, PrivateMessage):
        return message.content_type
    return message.content.content_type if isinstance(message, PublicMessage) else None


def _self_removal(group: Group, received: ProposalReceived) -> bool:
    """Whether a proposal is a member's Remove of a device of its own user: how a user leaves.
    Members commit pending proposals blindly, so no other kind may stay pending."""
    removal = received.proposal.body
    if received.sender.sender_type is not SenderType.MEMBER or not isinstance(removal, Remove):
        return False
    certificates = _certificates(group)
    proposer, removed = certificates.get(received.sender.index), certificates.get(removal.removed)
    return proposer is not None and removed is not None and proposer.user_id == removed.user_id


def _external_joiner(body: bytes) -> str | None:
    """The user named by the new leaf of an external commit; None for any other message."""
    try:
        message = decode_all(body, MLSMessage.decode).body
    except MLSError:
        return None  # processing it fails with the real reason
    if not isinstance(message, PublicMessage):
        return None
    content = message.content
    if content.sender.sender_type is not SenderType.NEW_MEMBER_COMMIT:
        return None
    commit = content.content
    if not isinstance(commit, Commit) or commit.path is None:
        raise UndecryptableMessage("an external commit without the joiner's leaf")
    try:
        return DeviceCertificate.from_bytes(commit.path.leaf_node.credential.identity).user_id
    except E2EEError as exc:
        raise UndecryptableMessage(f"an external commit with a bad credential: {exc}") from exc


__all__ = [
    "WELCOME_KIND",
    "DeviceNotLinked",
    "ExternalJoinRefused",
    "MemoryTrust",
    "RemovalRefused",
    "ReplayedMessage",
    "RoomCrypto",
    "UndecryptableMessage",
    "published_identity_keys",
]
