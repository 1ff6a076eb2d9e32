"""One generator-side WebSocket connection on the picows client.

picows was picked over aiohttp's client by measurement (docs/performance.md): it parses frames in
Cython and hands each one to a callback without a task switch, so the generator spends far less
CPU per delivery than the server it measures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from picows import WSCloseCode, WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.wire import auth_frame

TextHandler = Callable[[bytes], None]


def ignore(_: bytes) -> None:
    """A handler for connections that only need to stay open."""


class HandshakeRefused(ConnectionError):
    """The server answered ``auth`` with an error or a close instead of ``ready``."""


# What a connection attempt may fail with, short of a bug in the generator.
CONNECT_ERRORS = (OSError, TimeoutError, WSError)


class Connection(WSListener):
    """Hands every text frame to ``on_text``; for Sottovoce, first waits for ``ready``."""

    def __init__(self, on_text: TextHandler, authenticating: bool) -> None:
        loop = asyncio.get_running_loop()
        self.on_text = on_text
        self.transport: WSTransport | None = None
        self.ready: asyncio.Future[dict[str, object]] | None = (
            loop.create_future() if authenticating else None
        )
        self.closed: asyncio.Future[None] = loop.create_future()
        self.close_code: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT:
            payload = frame.get_payload_as_bytes()
            if self.ready is not None and not self.ready.done():
                self._answer_auth(payload)
            else:
                self.on_text(payload)
        elif kind is WSMsgType.CLOSE:
            raw = frame.get_payload_as_bytes()
            self.close_code = int.from_bytes(raw[:2], "big") if len(raw) >= 2 else None
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()

    def _answer_auth(self, payload: bytes) -> None:
        assert self.ready is not None
        frame = json.loads(payload)
        if frame.get("type") == "ready":
            self.ready.set_result(frame)
        else:
            self.ready.set_exception(HandshakeRefused(f"auth answered with {frame.get('type')}"))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.ready is not None and not self.ready.done():
            self.ready.set_exception(HandshakeRefused(f"closed with {self.close_code}"))
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, payload)

    def ping(self) -> None:
        assert self.transport is not None
        self.transport.send_ping()

    def drop(self) -> None:
        """Cut the TCP connection without a close handshake, as a lost network would."""
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    async def close(self) -> None:
        if self.transport is not None and not self.closed.done():
            self.transport.send_close(WSCloseCode.OK)
            self.transport.disconnect()
            await self.closed


async def connect(
    url: str,
    on_text: TextHandler,
    token: str | None = None,
    since: dict[str, int] | None = None,
    limit_s: float = 30.0,
) -> Connection:
    """Open a connection; with a ``token``, authenticate and return once ``ready`` arrived.

    Frames that follow ``ready`` (the resume replay) go to ``on_text`` in order.
    """
    async with asyncio.timeout(limit_s):
        _, listener = await ws_connect(
            lambda: Connection(on_text, authenticating=token is not None),
            url,
            websocket_handshake_timeout=limit_s,
        )
        if not isinstance(listener, Connection):
            # Seen in 5,000-client storms: picows returned without our listener; retry it.
            raise HandshakeRefused(f"no WebSocket upgrade from {url}")
        if token is not None:
            listener.send(auth_frame(token, since))
            assert listener.ready is not None
            await listener.ready
        return listener
