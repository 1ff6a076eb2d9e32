"""Group commit: concurrent appends share one transaction, and so one commit (one fsync).

A store commits one transaction at a time per room, so a busy room's throughput would be one
message per commit round trip. Appends that arrive while a batch is being written wait for the
next batch instead; that batch goes out when the previous one has committed and the event loop
has made one more pass (or at once when ``max_batch`` are waiting). Every caller's result is set
only after its batch committed, so an acknowledgement still follows a durable write.

That one pass lets the frames the loop has read meanwhile join the batch: a burst of sends then
shares one commit (one fsync) without a timer. A 0.3 ms timer did this before, but uvloop counts
timers in whole milliseconds and fired it on the next pass anyway, while asyncio's own loop,
which sottovoce runs on without the ``bench`` extra, slept at least ~1.1 ms. On asyncio's loop,
light load p50 went 3.8-5.2 ms with the timer, 3.8-4.3 ms with the pass and 4.3-6.1 ms with no
wait at all, which splits a burst over two fsyncs (docs/performance.md).

Results are set in submission order, and a batch commits only after the one before it, so the
callers of one room resume in sequence order (which ``Rooms`` relies on to publish in order).
"""

from __future__ import annotations

import asyncio

from sottovoce.core.models import Event
from sottovoce.store.base import Append, AppendResult, Store

MAX_BATCH = 256


class GroupCommit:
    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        self._store = store
        self._max_batch = max_batch
        self._waiting: list[tuple[Append, asyncio.Future[tuple[Event, bool]]]] = []
        self._writer: asyncio.Task[None] | None = None

    def submit(self, append: Append) -> asyncio.Future[tuple[Event, bool]]:
        """Queue ``append``; the future holds ``append_event``'s result once it is committed.

        Submission order is storage order: a caller that needs its appends in order submits them
        one after another, without awaiting in between.
        """
        future: asyncio.Future[tuple[Event, bool]] = asyncio.get_running_loop().create_future()
        self._waiting.append((append, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="group-commit")
        return future

    async def _write(self) -> None:
        batch: list[tuple[Append, asyncio.Future[tuple[Event, bool]]]] = []
        try:
            while self._waiting:
                if len(self._waiting) < self._max_batch:
                    await _one_pass()
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
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


async def _one_pass() -> None:
    """Return after one pass of the event loop: the first yield lets it poll for I/O, the second
    lets the tasks that woke up for what it read run (and submit) before the batch is taken."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)
