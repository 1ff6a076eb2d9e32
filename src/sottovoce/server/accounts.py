"""Accounts, devices and tokens: registration, login, refresh rotation, revocation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from sottovoce.bus.base import Bus, DevicesRevoked
from sottovoce.core.auth import (
    AccessClaims,
    AccessTokens,
    check_password_strength,
    hash_password,
    hash_refresh_token,
    new_family_id,
    new_refresh_token,
    verify_password,
)
from sottovoce.core.errors import (
    DeviceRevoked,
    InvalidCredentials,
    InvalidInviteCode,
    InvalidRefreshToken,
    InvalidUsername,
    NotFound,
    RefreshTokenReused,
    RegistrationClosed,
    Unauthenticated,
    UserDisabled,
)
from sottovoce.core.ids import DEVICE_ID, new_device_id, normalize_localpart, parse_user_id, user_id
from sottovoce.core.models import Device, RefreshToken, RegistrationMode, User
from sottovoce.server.clock import Clock, now_ms
from sottovoce.store.base import Store

DEFAULT_DEVICE_NAME = "unnamed device"
# Never a real family id (those come from token_urlsafe), so a probe rotation never writes.
_PROBE_FAMILY = "#probe"


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    device_id: str
    access_token: str
    refresh_token: str
    expires_in: int

    def to_json(self) -> dict[str, object]:
        return {
            "user_id": self.user_id,
            "device_id": self.device_id,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
        }


class Accounts:
    def __init__(
        self,
        store: Store,
        bus: Bus,
        tokens: AccessTokens,
        *,
        server_name: str,
        registration: RegistrationMode,
        refresh_ttl: int,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._bus = bus
        self._tokens = tokens
        self._server_name = server_name
        self._registration = registration
        self._refresh_ttl_ms = refresh_ttl * 1000
        self._clock = clock

    async def register(
        self, username: str, password: str, invite_code: str | None, device_name: str | None
    ) -> Session:
        localpart = normalize_localpart(username)
        check_password_strength(password)
        if self._registration is RegistrationMode.CLOSED:
            raise RegistrationClosed("this server does not accept new accounts")
        if self._registration is RegistrationMode.INVITE and not invite_code:
            raise InvalidInviteCode("this server needs an invite code to register")
        code = invite_code if self._registration is RegistrationMode.INVITE else None
        # argon2 takes tens of milliseconds of CPU: keep the event loop free meanwhile.
        password_hash = await asyncio.to_thread(hash_password, password)
        now = now_ms(self._clock)
        user = User(
            user_id=user_id(localpart, self._server_name),
            password_hash=password_hash,
            is_admin=False,
            disabled=False,
            created_at=now,
        )
        await self._store.create_user(user, code, now)
        return await self._new_session(user.user_id, device_name)

    async def login(self, username: str, password: str, device_name: str | None) -> Session:
        try:
            uid = user_id(normalize_localpart(username), self._server_name)
        except InvalidUsername:
            uid = None
        user = await self._store.get_user(uid) if uid else None
        hashed = user.password_hash if user else None
        if not await asyncio.to_thread(verify_password, hashed, password) or user is None:
            raise InvalidCredentials("wrong username or password")
        if user.disabled:
            raise UserDisabled("this account was disabled by an administrator")
        return await self._new_session(user.user_id, device_name)

    async def _new_session(self, uid: str, device_name: str | None) -> Session:
        now = now_ms(self._clock)
        device = Device(
            device_id=new_device_id(),
            user_id=uid,
            display_name=device_name or DEFAULT_DEVICE_NAME,
            created_at=now,
            last_seen_at=now,
            revoked=False,
        )
        await self._store.create_device(device)
        token, digest = new_refresh_token()
        await self._store.add_refresh_token(
            RefreshToken(
                digest, device.device_id, new_family_id(), None, now + self._refresh_ttl_ms
            )
        )
        return self._session(uid, device.device_id, token)

    def _session(self, uid: str, device_id: str, refresh_token: str) -> Session:
        access = self._tokens.issue(uid, device_id, int(self._clock()))
        return Session(uid, device_id, access, refresh_token, self._tokens.ttl)

    async def refresh(self, refresh_token: str) -> Session:
        old_hash = hash_refresh_token(refresh_token)
        now = now_ms(self._clock)
        token, new_hash = new_refresh_token()
        # The store finds the token's family only by hash: a probe with a family that never
        # matches returns the record without writing anything.
        probe = RefreshToken(new_hash, "", _PROBE_FAMILY, None, now)
        old = await self._store.rotate_refresh_token(old_hash, probe, now)
        if old is None:
            raise InvalidRefreshToken("unknown or revoked refresh token: sign in again")
        await self._reject_reuse(old)
        if old.expires_at <= now:
            raise InvalidRefreshToken("the refresh token has expired: sign in again")
        device = await self._store.get_device(old.device_id)
        if device is None or device.revoked:
            raise DeviceRevoked("this device was signed out")
        user = await self._store.get_user(device.user_id)
        if user is None or user.disabled:
            raise UserDisabled("this account was disabled by an administrator")
        new = RefreshToken(new_hash, old.device_id, old.family_id, None, now + self._refresh_ttl_ms)
        before = await self._store.rotate_refresh_token(old_hash, new, now)
        if before is None:
            raise InvalidRefreshToken("unknown or revoked refresh token: sign in again")
        # A concurrent refresh with the same token won the race: one of the two is a thief.
        await self._reject_reuse(before)
        await self._store.touch_device(device.device_id, now)
        return self._session(device.user_id, device.device_id, token)

    async def _reject_reuse(self, record: RefreshToken) -> None:
        if record.rotated_at is not None:
            await self.revoke_device(record.device_id)
            raise RefreshTokenReused(
                "this refresh token was already used: the device has been signed out"
            )

    async def authenticate(
        self, access_token: str, before_lookup: Callable[[AccessClaims], None] | None = None
    ) -> AccessClaims:
        """Check the token and that its device is still active (revocation takes effect at once).

        ``before_lookup`` runs between the signature check and the database lookup: the place for
        a per-user rate limit that should spare the database under a flood.
        """
        claims = self._tokens.verify(access_token, int(self._clock()))
        if before_lookup is not None:
            before_lookup(claims)
        device = await self._store.get_device(claims.device_id)
        if device is None or device.user_id != claims.user_id:
            raise Unauthenticated("the access token names an unknown device")
        if device.revoked:
            raise DeviceRevoked("this device was signed out or revoked")
        return claims

    async def revoke_device(self, device_id: str) -> None:
        await self._store.revoke_device(device_id)
        await self._bus.publish(DevicesRevoked((device_id,)))

    async def revoke_own_device(self, owner: str, device_id: str) -> None:
        device = await self._store.get_device(device_id) if DEVICE_ID.fullmatch(device_id) else None
        if device is None or device.user_id != owner or device.revoked:
            raise NotFound(f"you have no device {device_id[:20]!r}")
        await self.revoke_device(device_id)

    async def me(self, claims: AccessClaims) -> dict[str, object]:
        user = await self._store.get_user(claims.user_id)
        return {
            "user_id": claims.user_id,
            "device_id": claims.device_id,
            "is_admin": bool(user and user.is_admin),
        }

    async def devices(self, uid: str) -> list[Device]:
        return await self._store.list_devices(uid)

    async def public_devices(self, uid: str) -> list[str]:
        parse_user_id(uid)
        if await self._store.get_user(uid) is None:
            raise NotFound(f"no user {uid[:80]!r}")
        return [device.device_id for device in await self._store.list_devices(uid)]
