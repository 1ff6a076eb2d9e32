"""A few asyncpg connections, each lent to one task at a time: the pool of PostgreSQL's hot paths.

asyncpg's own ``Pool`` costs each use about as much CPU as the query it runs (a proxy object per
acquire, a queue, a timeout scope and a reset coroutine per release), and the hot reads are one
short query each: its ``fetch`` took 80-120 µs of CPU where the same ``fetch`` on a connection
took 35-70 µs (back to back, three runs). Here lending is a list pop and a push.

A connection comes back only from a block that ended normally. One that raised may be anywhere
(a query cancelled mid-flight, a transaction half rolled back, a dead socket), so it is closed and
a fresh one is opened when next needed; that is rare, and it keeps this pool free of asyncpg's
recovery internals. Nothing here changes session state, so nothing needs resetting between uses.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg


class Connections:
    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self._size = size
        self._open = 0
        self._idle: list[asyncpg.Connection] = []
        self._closed = False
        # Each gets a connection, or None: a slot is free, open one.
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._take()
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        self._give_back(conn)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        async with self.acquire() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def close(self) -> None:
        """Close the idle connections; those still lent are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        self._open -= len(idle)
        for conn in idle:
            await conn.close()

    async def _take(self) -> asyncpg.Connection:
        while True:
            if self._closed:
                raise asyncpg.InterfaceError("the store's connections are closed")
            if self._idle:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1
                continue
            if self._open < self._size:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._free_slot()
                    raise
            waiter: asyncio.Future[asyncpg.Connection | None]
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                # Handed something just before the cancellation arrived: pass it on.
                if waiter.done() and not waiter.cancelled():
                    late = waiter.result()
                    if late is None:
                        self._wake(None)
                    else:
                        self._give_back(late)
                raise
            if handed is not None:
                return handed

    def _give_back(self, conn: asyncpg.Connection) -> None:
        if self._closed:
            self._discard(conn)
        elif not self._wake(conn):
            self._idle.append(conn)

    def _discard(self, conn: asyncpg.Connection) -> None:
        conn.terminate()
        self._free_slot()

    def _free_slot(self) -> None:
        self._open -= 1
        self._wake(None)

    def _wake(self, handed: asyncpg.Connection | None) -> bool:
        """Hand ``handed`` to the longest waiting task still waiting; False if there is none."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(handed)
                return True
        return False
