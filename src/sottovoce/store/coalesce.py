"""Concurrent reads of one kind, answered together: what a reconnect storm is made of.

When a node restarts, or a network comes back, every client reconnects at once, and each connect
reads its device, its rooms, their news and its mail: on PostgreSQL one round trip each,
thousands at once through a few connections, and the appends queue behind them. Here reads that
arrive while ``lanes`` loads of their kind are in flight wait, and the next load takes them all
(up to ``max_keys`` keys): one statement for every key (``= ANY``), and one answer for readers of
the same key. A lone read starts at once, as a lone commit does in group commit: nothing waits
for a batch to fill.

A load only ever takes readers that asked before it started, so none is answered from a read
older than its question: a device revoked before a connect is seen as revoked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        lanes: int,
        max_keys: int,
    ) -> None:
        """``load`` answers every key it is given."""
        self._load = load
        self._lanes = lanes
        self._max_keys = max_keys
        self._running = 0
        # Readers not yet taken by a load, by key, in the order their keys were first asked for.
        self._waiting: dict[K, list[asyncio.Future[V]]] = {}
        # Strong references: the event loop keeps only weak ones to running tasks.
        self._loads: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V:
        reader: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(reader)
        if self._running < self._lanes:
            self._start()
        # A reader that gives up (its client went away) only cancels its own future.
        return await reader

    def _start(self) -> None:
        taken: dict[K, list[asyncio.Future[V]]] = {}
        for key in self._waiting:
            if len(taken) == self._max_keys:
                break
            taken[key] = self._waiting[key]
        for key in taken:
            del self._waiting[key]
        self._running += 1
        task = asyncio.ensure_future(self._run(taken))
        self._loads.add(task)
        task.add_done_callback(self._loads.discard)

    async def _run(self, taken: dict[K, list[asyncio.Future[V]]]) -> None:
        try:
            found = await self._load(list(taken))
            answers = [(readers, found[key]) for key, readers in taken.items()]
        except asyncio.CancelledError:
            # The server is stopping: so are its readers.
            for reader in _readers(taken):
                reader.cancel()
            raise
        except Exception as exc:
            for reader in _readers(taken):
                if not reader.done():
                    reader.set_exception(exc)
            return
        finally:
            self._running -= 1
            if self._waiting and self._running < self._lanes:
                self._start()
        for readers, value in answers:
            for reader in readers:
                if not reader.done():
                    reader.set_result(value)


def _readers(taken: dict[K, list[asyncio.Future[V]]]) -> list[asyncio.Future[V]]:
    return [reader for readers in taken.values() for reader in readers]
