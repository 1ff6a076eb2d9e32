"""Group commit: concurrent appends share one transaction, and so one commit (one fsync).

A store commits one transaction at a time per room, so a busy room's throughput would be one
message per commit round trip. Appends that arrive while a batch is being written wait for the
next batch instead; that batch goes out when the previous one has committed and either ``linger``
has passed since its first append or ``max_batch`` are waiting. Every caller's result is set only
after its batch committed, so an acknowledgement still follows a durable write.

Results are set in submission order, and a batch commits only after the one before it, so the
callers of one room resume in sequence order (which ``Rooms`` relies on to publish in order).
"""

from __future__ import annotations

import asyncio
import contextlib

from sottovoce.core.models import Event
from sottovoce.store.base import Append, AppendResult, Store

MAX_BATCH = 256
LINGER = 0.0003


class GroupCommit:
    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH, linger: float = LINGER) -> None:
        self._store = store
        self._max_batch = max_batch
        self._linger = linger
        self._waiting: list[tuple[Append, asyncio.Future[tuple[Event, bool]]]] = []
        self._full = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def submit(self, append: Append) -> asyncio.Future[tuple[Event, bool]]:
        """Queue ``append``; the future holds ``append_event``'s result once it is committed.

        Submission order is storage order: a caller that needs its appends in order submits them
        one after another, without awaiting in between.
        """
        future: asyncio.Future[tuple[Event, bool]] = asyncio.get_running_loop().create_future()
        self._waiting.append((append, future))
        if len(self._waiting) >= self._max_batch:
            self._full.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="group-commit")
        return future

    async def _write(self) -> None:
        batch: list[tuple[Append, asyncio.Future[tuple[Event, bool]]]] = []
        try:
            while self._waiting:
                if len(self._waiting) < self._max_batch:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._linger):
                            await self._full.wait()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                if len(self._waiting) < self._max_batch:
                    self._full.clear()
                await self._commit(batch)
        finally:
            self._writer = None
            # Only left undone when this task is cancelled (the loop is stopping): whether those
            # appends were stored is unknown, and their callers must not wait for ever.
            for _, future in (*batch, *self._waiting):
                future.cancel()
            self._waiting.clear()

    @staticmethod
    def _settle(future: asyncio.Future[tuple[Event, bool]], result: AppendResult) -> None:
        # A caller that went away (its connection closed) still had its append stored.
        if future.done():
            return
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)

    async def _commit(self, batch: list[tuple[Append, asyncio.Future[tuple[Event, bool]]]]) -> None:
        try:
            results = await self._store.append_events([append for append, _ in batch])
        except Exception as exc:
            for _, future in batch:
                self._settle(future, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            self._settle(future, result)
