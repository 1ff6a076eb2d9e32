"""The few Sottovoce HTTP calls the benchmark needs to set itself up (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

import aiohttp


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        # The answer is an error object from the server; it never echoes our tokens.
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


@dataclass(slots=True)
class Session:
    user_id: str
    access_token: str
    refresh_token: str
    issued_at: float


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1"
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def close(self) -> None:
        await self.http.close()

    async def call(
        self,
        method: str,
        path: str,
        session: Session | None = None,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {session.access_token}"} if session else {}
        async with self.http.request(
            method, self.base_url + path, json=body, params=params, headers=headers
        ) as response:
            if response.status >= 400:
                raise ApiError(response.status, await response.text())
            return await response.json() if response.status != 204 else None

    async def register(self, username: str) -> Session:
        password = secrets.token_urlsafe(18)
        answer = await self.call(
            "POST", "/register", body={"username": username, "password": password}
        )
        return _session(answer)

    async def refresh(self, session: Session) -> Session:
        answer = await self.call("POST", "/refresh", body={"refresh_token": session.refresh_token})
        return _session(answer)

    async def create_room(self, owner: Session, name: str, members: list[Session]) -> str:
        """A group room with ``owner`` and every one of ``members`` joined."""
        invite = [m.user_id for m in members]
        room = await self.call(
            "POST", "/rooms", owner, {"kind": "group", "name": name, "invite": invite}
        )
        room_id: str = room["room_id"]
        for member in members:
            await self.call("POST", f"/rooms/{room_id}/join", member)
        return room_id


def _session(answer: dict[str, Any]) -> Session:
    return Session(
        user_id=answer["user_id"],
        access_token=answer["access_token"],
        refresh_token=answer["refresh_token"],
        issued_at=time.monotonic(),
    )


async def register_many(api: Api, prefix: str, count: int, parallel: int = 4) -> list[Session]:
    """Register ``count`` users once per run; each costs the server an argon2 hash."""
    gate = asyncio.Semaphore(parallel)

    async def one(i: int) -> Session:
        async with gate:
            return await api.register(f"{prefix}{i}")

    return list(await asyncio.gather(*(one(i) for i in range(count))))
