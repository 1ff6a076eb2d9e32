"""Finishing committed appends in the order they were submitted: the submitter's callback (a
sender's acknowledgement), then the publish.

``GroupCommit`` sets its results in submission order and commits a batch only after the one
before it, so walking one queue of every append of this node in that order acknowledges and
publishes each room's events in sequence order, with no task and no lock per message: a task per
send cost a WebSocket send more CPU than everything the settler does for it. One task walks the
queue, and only while it holds something; it waits once per group-commit batch, since a batch's
results are all set in the same pass of the event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial

import structlog

from sottovoce.core.models import Event, MembershipChange

# Called after the commit and before the publish, with the stored event and whether it was a
# retry of one stored before.
Stored = Callable[[Event, bool], None]
# Called once the append is finished: None after its publish, or the error that ended it (the
# commit's, the publish's, or CancelledError when the server stopped before it was known).
Finished = Callable[[BaseException | None], None]
Publish = Callable[[Event, MembershipChange | None], Awaitable[None]]

Entry = tuple[
    asyncio.Future[tuple[Event, bool]], Stored | None, Finished, list[MembershipChange] | None
]

log = structlog.get_logger("sottovoce.settler")


class Settler:
    def __init__(self, publish: Publish) -> None:
        self._publish = publish
        self._queue: deque[Entry] = deque()
        self._task: asyncio.Task[None] | None = None

    def add(
        self,
        committing: asyncio.Future[tuple[Event, bool]],
        stored: Stored | None,
        finished: Finished,
        decided: list[MembershipChange] | None = None,
    ) -> None:
        """Finish ``committing`` after everything added before it.

        ``decided`` holds the membership change the commit applied (its last item), for member
        events. Call in submission order.
        """
        self._queue.append((committing, stored, finished, decided))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="settler")

    def __len__(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        try:
            while queue:
                committing, stored, finished, decided = queue[0]
                if not committing.done():
                    # Not awaited directly: cancelling this task must not cancel the append.
                    # A future of its own woken by a done callback costs half of asyncio.wait.
                    woken = loop.create_future()
                    committing.add_done_callback(partial(_wake, woken))
                    await woken
                try:
                    event, duplicate = committing.result()
                except BaseException as exc:
                    queue.popleft()
                    _finish(finished, exc)
                    continue
                error: BaseException | None = None
                try:
                    if stored is not None:
                        stored(event, duplicate)
                    if not duplicate:
                        await self._publish(event, decided[-1] if decided else None)
                except Exception as exc:
                    error = exc
                queue.popleft()
                _finish(finished, error)
        finally:
            self._task = None
            # Only left undone when this task is cancelled (the loop is stopping): their
            # submitters must not wait for ever.
            while queue:
                _finish(queue.popleft()[2], asyncio.CancelledError())


def _wake(woken: asyncio.Future[None], _committed: asyncio.Future[tuple[Event, bool]]) -> None:
    # After a cancelled wait (the loop stopping) it is done already.
    if not woken.done():
        woken.set_result(None)


def _finish(finished: Finished, error: BaseException | None) -> None:
    try:
        finished(error)
    except Exception:
        # One submitter's failure must not stop the queue everyone else waits on.
        log.exception("settle_callback_failed")


def resolve(outcome: asyncio.Future[None], error: BaseException | None) -> None:
    """A ``Finished`` that hands the outcome to a future someone awaits."""
    if outcome.done():
        return
    if error is None:
        outcome.set_result(None)
    elif isinstance(error, asyncio.CancelledError):
        outcome.cancel()
    else:
        outcome.set_exception(error)
