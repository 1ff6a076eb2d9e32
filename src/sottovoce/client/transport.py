"""HTTP calls to the API with the SDK's policies: bearer auth, refresh on ``token_expired``, and
retries with backoff for requests that are safe to repeat."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Protocol

import aiohttp

from sottovoce.client.backoff import Backoff
from sottovoce.client.errors import ProtocolViolation, ServerUnreachable, error_from_wire
from sottovoce.client.records import Json, Session, session_from
from sottovoce.core.errors import RateLimited, SottoError, TokenExpired, Unauthenticated

API = "/api/v1"
# Exceptions that mean "no usable answer arrived": the request may or may not have been handled.
CONNECTION_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


class SessionStore(Protocol):
    """Where a session outlives the process. Several processes may share one (a CLI profile);
    the SDK reloads it before refreshing so that they do not spend the same refresh token twice,
    which the server would treat as theft and answer by revoking the device."""

    def load(self) -> Session | None: ...

    def save(self, session: Session) -> None: ...

    def refreshing(self) -> AbstractAsyncContextManager[None]:
        """Held around a refresh, excluding every other process that shares this store."""
        ...


def transient(exc: SottoError) -> bool:
    return isinstance(exc, ServerUnreachable) or exc.status >= 500


class Transport:
    def __init__(
        self,
        base_url: str,
        session: Session | None = None,
        *,
        store: SessionStore | None = None,
        backoff: Backoff | None = None,
        attempts: int = 6,
        timeout: float = 30.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else (store.load() if store else None)
        self._store = store
        self._backoff = backoff or Backoff()
        self._attempts = attempts
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._http = http
        # A session handed in (own connector, proxy, source address) belongs to the caller.
        self._owns_http = http is None
        self._refresh_lock = asyncio.Lock()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_http = True
        return self._http

    @property
    def ws_url(self) -> str:
        scheme, _, rest = self.base_url.partition("://")
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{API}/ws"

    def signed_in(self) -> Session:
        if self.session is None:
            raise Unauthenticated("not signed in: register or log in first")
        return self.session

    def adopt(self, session: Session | None) -> None:
        self.session = session
        if self._store is not None and session is not None:
            self._store.save(session)

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, int] | None = None,
        auth: bool = True,
        idempotent: bool = False,
    ) -> Json | None:
        """One API call; ``idempotent`` calls are repeated on connection errors, 5xx and
        ``rate_limited``, which is only safe when repeating cannot do the work twice."""
        delays = self._backoff.delays()
        refreshed = False
        attempt = 0
        while True:
            token = self.signed_in().access_token if auth else None
            try:
                return await self._once(method, path, body, params, token)
            except TokenExpired:
                if refreshed or token is None:
                    raise
                refreshed = True
                await self.refresh(stale_access_token=token)
                continue
            except RateLimited as exc:
                attempt += 1
                if not idempotent or attempt >= self._attempts:
                    raise
                retry_after = exc.extra.get("retry_after")
                wait = retry_after if isinstance(retry_after, int | float) else next(delays)
                await asyncio.sleep(float(wait))
            except SottoError as exc:
                attempt += 1
                if not (idempotent and transient(exc)) or attempt >= self._attempts:
                    raise
                await asyncio.sleep(next(delays))

    async def refresh(self, stale_access_token: str | None = None) -> Session:
        """Exchange the refresh token. Never retried by itself: if the answer is lost, the old
        token is already spent and presenting it again would revoke the device."""
        shared = self._store.refreshing() if self._store else nullcontext()
        async with self._refresh_lock, shared:
            current = self.signed_in()
            if stale_access_token is not None and current.access_token != stale_access_token:
                return current
            stored = self._store.load() if self._store else None
            if (
                stored is not None
                and stored.device_id == current.device_id
                and stored.refresh_token != current.refresh_token
            ):
                self.session = stored
                return stored
            answer = await self._once(
                "POST", "/refresh", {"refresh_token": current.refresh_token}, None, None
            )
            fresh = session_from(answer or {})
            self.adopt(fresh)
            return fresh

    async def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, int] | None,
        token: str | None,
    ) -> Json | None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self.http.request(
                method,
                f"{self.base_url}{API}{path}",
                json=body,
                params=params,
                headers=headers,
            ) as response:
                if response.status == 204:
                    return None
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
        except CONNECTION_ERRORS as exc:
            raise ServerUnreachable(
                f"cannot reach {self.base_url}: {type(exc).__name__} {exc}".rstrip()
            ) from None
        if response.status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict):
                raise error_from_wire(error, response.status)
            raise SottoError(f"HTTP {response.status} from {self.base_url}")
        if not isinstance(answer, dict):
            raise ProtocolViolation(f"{method} {path}: the answer is not a JSON object")
        return answer
