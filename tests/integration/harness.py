"""A real ``python -m sottovoce serve`` process and raw wire-protocol helpers for end-to-end tests.

The helpers speak docs/protocol.md with plain aiohttp, never through our SDK, so a test checks
what is on the wire.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
ADMIN_TIMEOUT = 60.0
# Long enough for a loaded 2-core CI machine, short enough that a hang fails the test quickly.
FRAME_TIMEOUT = 10.0
PASSWORD = "correct horse battery staple"

JSON = dict[str, Any]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'sottovoce.db'}"


class ServerProcess:
    """One server process on a free loopback port, restartable on the same port and data.

    Like a production server it accepts only MLS message bodies; ``plaintext=True`` starts it
    with ``--allow-plaintext``, for tests of the transport that send arbitrary bodies.
    """

    def __init__(
        self,
        data_dir: Path,
        database_url: str,
        *,
        registration: str = "open",
        plaintext: bool = False,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.registration = registration
        self.extra_args = ["--allow-plaintext", *extra_args] if plaintext else list(extra_args)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.base_url}/api/v1"
        self.ws_url = f"ws://127.0.0.1:{self.port}/api/v1/ws"
        self.log_path = data_dir / "server.log"
        self._env = self._child_env(env or {})
        self._proc: subprocess.Popen[bytes] | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _child_env(extra: Mapping[str, str]) -> dict[str, str]:
        # A developer's own SOTTO_* settings must not leak into the server under test.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOTTO_")}
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra)
        return env

    def _db_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), "--database-url", self.database_url]

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sottovoce",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self._db_args(),
            "--server-name",
            "localhost",
            "--registration",
            self.registration,
            *self.extra_args,
        ]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            raise RuntimeError("server already running")
        with self.log_path.open("ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self._proc.returncode} before answering /healthz:\n"
                    + self.log_text()[-4000:]
                )
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return
                    last_error = f"status {reply.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"server did not answer /healthz within {START_TIMEOUT:.0f} s ({last_error}):\n"
            + self.log_text()[-4000:]
        )

    def stop(self) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT)
        return proc.returncode

    def kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(STOP_TIMEOUT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def admin(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sottovoce", "admin", *self._db_args(), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self._env,
            timeout=ADMIN_TIMEOUT,
            check=False,
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


# Raw protocol ---------------------------------------------------------------------------------

# The server limits register/login per IP; every simulated person gets their own loopback source
# address so that tests exercise those limits only where they mean to.
_source_numbers = itertools.count(os.getpid() % 50_000 * 64)


def next_source_ip() -> str:
    n = next(_source_numbers) % (250 * 250 * 250)
    return f"127.{n // 62_500 + 1}.{n // 250 % 250 + 1}.{n % 250 + 2}"


def http_session(source_ip: str | None = None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(source_ip or next_source_ip(), 0))
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=FRAME_TIMEOUT * 3)
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def random_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def code(self) -> str | None:
        """The error code of an error answer, or None."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            code = self.body["error"].get("code")
            return code if isinstance(code, str) else None
        return None

    @property
    def message(self) -> str | None:
        """The human message of an error answer, or None."""
        if self.code is None:
            return None
        message = self.body["error"].get("message")
        return message if isinstance(message, str) and message else None

    def expect(self, status: int) -> Any:
        assert self.status == status, f"expected {status}, got {self.status}: {self.body!r}"
        return self.body


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str | None = None,
    json_body: object = None,
    data: bytes | str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """One HTTP request; the answer body is parsed as JSON when it is JSON, else kept as text."""
    sent_headers = dict(headers or {})
    if token is not None:
        sent_headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        data = json.dumps(json_body)
        sent_headers.setdefault("Content-Type", "application/json")
    async with http.request(method, url, data=data, headers=sent_headers) as resp:
        text = await resp.text()
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        return Reply(resp.status, body, resp.headers)


@dataclass
class Person:
    """A registered user's device, speaking raw HTTP from its own loopback address."""

    server: ServerProcess
    http: aiohttp.ClientSession
    session: JSON
    password: str = PASSWORD
    sockets: list[aiohttp.ClientWebSocketResponse] = field(default_factory=list)

    @property
    def user_id(self) -> str:
        return str(self.session["user_id"])

    @property
    def device_id(self) -> str:
        return str(self.session["device_id"])

    @property
    def token(self) -> str:
        return str(self.session["access_token"])

    @property
    def username(self) -> str:
        return self.user_id[1:].split(":", 1)[0]

    async def login(self, device_name: str | None = None) -> JSON:
        """Sign the same user in again: the session of a new device."""
        body: JSON = {"username": self.username, "password": self.password}
        if device_name is not None:
            body["device_name"] = device_name
        session: JSON = (await self.call("POST", "/login", body)).expect(200)
        return session

    async def call(
        self, method: str, path: str, json_body: object = None, *, token: str | None = None
    ) -> Reply:
        return await call(
            self.http,
            method,
            self.server.api_url + path,
            token=self.token if token is None else token,
            json_body=json_body,
        )

    async def create_room(self, *invite: Person, kind: str = "group", name: str = "r") -> str:
        body: JSON = {"kind": kind, "invite": [p.user_id for p in invite]}
        if kind == "group":
            body["name"] = name
        room = (await self.call("POST", "/rooms", body)).expect(201)
        for person in invite:
            (await person.call("POST", f"/rooms/{room['room_id']}/join")).expect(200)
        return str(room["room_id"])

    async def send(self, room_id: str, body: bytes, client_id: str | None = None) -> JSON:
        reply = await self.call(
            "POST",
            f"/rooms/{room_id}/events",
            {"client_id": client_id or secrets.token_hex(8), "body": b64(body)},
        )
        result: JSON = reply.expect(200)
        return result

    async def history(self, room_id: str) -> list[JSON]:
        """Every event of the room, paging forward over HTTP."""
        events: list[JSON] = []
        after = 0
        while True:
            reply = await self.call("GET", f"/rooms/{room_id}/events?after={after}&limit=500")
            page = reply.expect(200)
            events.extend(page["events"])
            if page["next"] is None:
                return events
            after = page["next"]

    async def connect(
        self, since: Mapping[str, int] | None = None, *, token: str | None = None
    ) -> WebSocket:
        """An authenticated gateway connection, as this device or with another device's token."""
        ws, ready = await open_ws(self.http, self.server.ws_url, token or self.token, since)
        self.sockets.append(ws)
        return WebSocket(ws, ready)

    async def close(self) -> None:
        for ws in self.sockets:
            await ws.close()
        await self.http.close()


async def register(
    server: ServerProcess,
    username: str | None = None,
    *,
    password: str = PASSWORD,
    invite_code: str | None = None,
    http: aiohttp.ClientSession | None = None,
) -> Reply:
    """POST /register as a new person; the raw answer, for tests of registration itself."""
    body: JSON = {"username": username or random_name(), "password": password}
    if invite_code is not None:
        body["invite_code"] = invite_code
    if http is not None:
        return await call(http, "POST", f"{server.api_url}/register", json_body=body)
    async with http_session() as own:
        return await call(own, "POST", f"{server.api_url}/register", json_body=body)


async def open_ws(
    http: aiohttp.ClientSession,
    ws_url: str,
    token: str,
    since: Mapping[str, int] | None = None,
) -> tuple[aiohttp.ClientWebSocketResponse, JSON]:
    """Connect, send ``auth`` and wait for ``ready``; fail with what the server sent instead."""
    ws = await http.ws_connect(ws_url, autoping=True, max_msg_size=0)
    auth: JSON = {"type": "auth", "token": token}
    if since is not None:
        auth["since"] = dict(since)
    await ws.send_json(auth)
    frame = await recv_json(ws)
    if frame.get("type") != "ready":
        await ws.close()
        raise AssertionError(f"expected ready after auth, got {frame!r}")
    return ws, frame


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = FRAME_TIMEOUT) -> JSON:
    """The next text frame as JSON; a close or a binary frame is a failure that says which."""
    async with asyncio.timeout(timeout):
        msg = await ws.receive()
    if msg.type is aiohttp.WSMsgType.TEXT:
        frame: JSON = json.loads(msg.data)
        return frame
    raise AssertionError(f"expected a text frame, got {msg.type.name} {msg.data!r} {msg.extra!r}")


async def recv_close(ws: aiohttp.ClientWebSocketResponse, timeout: float = FRAME_TIMEOUT) -> int:
    """Read until the server closes; return its close code. Frames before the close are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                code = ws.close_code if ws.close_code is not None else msg.data
                return int(code) if code is not None else -1
            if msg.type is aiohttp.WSMsgType.ERROR:
                return ws.close_code if ws.close_code is not None else -1


@dataclass
class WebSocket:
    """An authenticated gateway connection with typed waits for the frames a test expects."""

    ws: aiohttp.ClientWebSocketResponse
    ready: JSON

    async def send(self, frame: JSON) -> None:
        await self.ws.send_json(frame)

    async def recv(self, timeout: float = FRAME_TIMEOUT) -> JSON:
        frame = await recv_json(self.ws, timeout)
        if frame.get("type") == "error":
            # Every error frame carries the request id (or null), a code and a human message.
            assert "id" in frame and isinstance(frame.get("code"), str), frame
            assert isinstance(frame.get("message"), str) and frame["message"], frame
        return frame

    async def wait_for(
        self,
        predicate: Callable[[JSON], bool],
        timeout: float = FRAME_TIMEOUT,
        skip: Callable[[JSON], bool] = lambda f: f.get("type") == "presence",
    ) -> JSON:
        """The next frame matching ``predicate``; only frames matching ``skip`` may come first."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if predicate(frame):
                    return frame
                assert skip(frame), f"unexpected frame while waiting: {frame!r}"

    async def wait_type(self, kind: str, timeout: float = FRAME_TIMEOUT) -> JSON:
        return await self.wait_for(lambda f: f.get("type") == kind, timeout)

    async def drain(
        self, probe_id: str = "drain", ignore: frozenset[str] = frozenset()
    ) -> list[JSON]:
        """Round-trip a ping; return the frames (but types in ``ignore``) that came before the pong.

        The gateway handles a connection's frames in order, so anything it meant to push before
        answering the ping has arrived by then: no sleeping needed to show that nothing came.
        For a frame caused by another connection, first round-trip a ping on that one too.
        """
        await self.send({"type": "ping", "id": probe_id})
        seen: list[JSON] = []
        while True:
            frame = await self.recv()
            if frame.get("type") == "pong" and frame.get("id") == probe_id:
                return seen
            if frame.get("type") not in ignore:
                seen.append(frame)

    async def assert_quiet(self) -> list[JSON]:
        """``drain``, ignoring presence, which other tests' people may cause at any time."""
        return await self.drain("quiet", frozenset({"presence"}))

    async def close_code(self, timeout: float = FRAME_TIMEOUT) -> int:
        return await recv_close(self.ws, timeout)

    async def close(self) -> None:
        await self.ws.close()


async def new_person(server: ServerProcess, username: str | None = None) -> Person:
    http = http_session()
    try:
        session = (await register(server, username, http=http)).expect(201)
    except BaseException:
        await http.close()
        raise
    return Person(server, http, session)
