"""The ``sotto`` command against a real server: two people in two "terminals" (separate config
directories), a tail that outlives kill -9, --json output, profiles and exit statuses."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from sottovoce.cli import exitcodes
from sottovoce.cli.main import build_parser, main
from sottovoce.cli.profile import Profile
from sottovoce.client import SottoClient
from tests.integration.conftest import running
from tests.integration.harness import (
    FRAME_TIMEOUT,
    PASSWORD,
    ServerProcess,
    free_port,
    random_name,
    sqlite_url,
)

LINE_TIMEOUT = FRAME_TIMEOUT * 3
# Expiry has one-second resolution: a shorter lifetime may leave a fresh token no time at all.
TOKEN_TTL = 3


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Terminal:
    """One person's shell: their own config directory, pointed at the server under test."""

    server: ServerProcess
    config_dir: Path
    monkeypatch: pytest.MonkeyPatch

    def argv(self, *args: str) -> list[str]:
        return ["--server", self.server.base_url, *args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOTTO_")}
        return {**env, "SOTTO_CONFIG_DIR": str(self.config_dir), "PYTHONUNBUFFERED": "1"}

    def __call__(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``sotto`` in this process (fast): same code path as the script, real server."""
        for name in [k for k in os.environ if k.startswith("SOTTO_")]:
            self.monkeypatch.delenv(name)
        self.monkeypatch.setenv("SOTTO_CONFIG_DIR", str(self.config_dir))
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(self.argv(*args))
            except SystemExit as exc:  # argparse: --help and usage errors
                code = int(exc.code or 0)
        return Result(code, out.getvalue(), err.getvalue())

    def script(self, *args: str, stdin: bytes = b"") -> Result:
        """Run the real ``python -m sottovoce`` process, as a shell script would."""
        done = subprocess.run(
            [sys.executable, "-m", "sottovoce", *self.argv(*args)],
            input=stdin,
            capture_output=True,
            env=self.env(),
            timeout=LINE_TIMEOUT * 2,
            check=False,
        )
        return Result(done.returncode, done.stdout.decode(), done.stderr.decode())

    def sign_up(self, name: str) -> None:
        result = self("register", name, "--password-stdin", stdin=PASSWORD.encode())
        assert result.code == 0, result.err


@dataclass
class Terminals:
    base: Path
    monkeypatch: pytest.MonkeyPatch

    def open(self, server: ServerProcess, who: str) -> Terminal:
        return Terminal(server, self.base / f"config-{who}", self.monkeypatch)


@pytest.fixture
def terminals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Terminals:
    return Terminals(tmp_path, monkeypatch)


def two_people(terminals: Terminals, server: ServerProcess) -> tuple[Terminal, Terminal]:
    alice, bob = terminals.open(server, "alice"), terminals.open(server, "bob")
    alice.sign_up("alice")
    bob.sign_up("bob")
    return alice, bob


def team_room(alice: Terminal, bob: Terminal) -> str:
    created = alice("room", "create", "--name", "team", "--json")
    assert created.code == 0, created.err
    assert alice("room", "invite", "team", "bob").code == 0
    assert bob("room", "join", "team").code == 0
    return str(created.json()["room_id"])


class Lines:
    """Lines of a running process's stdout, read in a thread so a hang fails instead of blocks."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._lines: queue.Queue[bytes] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, stdout: IO[bytes]) -> None:
        for line in stdout:
            self._lines.put(line)

    def next_json(self) -> Any:
        try:
            return json.loads(self._lines.get(timeout=LINE_TIMEOUT))
        except queue.Empty:
            raise AssertionError(f"no output line within {LINE_TIMEOUT:.0f} s") from None


def test_tail_in_another_terminal_survives_kill_and_restart_without_gaps_or_repeats(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = two_people(terminals, server)
    room_id = team_room(alice, bob)
    start = bob("room", "list", "--json").json()["rooms"][0]["last_seq"]
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sottovoce",
            *bob.argv("tail", "team", "--json", "--since", str(start)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=bob.env(),
    )
    try:
        lines = Lines(tail)
        assert alice.script("send", "team", "one").code == 0
        assert alice("send", room_id, "two").code == 0
        before = [lines.next_json(), lines.next_json()]
        server.kill()
        server.start()
        assert alice("send", "team", "three").code == 0
        assert alice("send", "team", "-", stdin=b"\xff\x00binary").code == 0
        after = [lines.next_json(), lines.next_json()]
    finally:
        tail.send_signal(signal.SIGINT)
        code = tail.wait(LINE_TIMEOUT)
    seen = before + after
    assert all(line["room_id"] == room_id for line in seen)
    assert [(e["body"], e["encoding"]) for e in seen] == [
        ("one", "utf-8"),
        ("two", "utf-8"),
        ("three", "utf-8"),
        ("/wBiaW5hcnk=", "base64"),
    ]
    assert [e["seq"] for e in seen] == list(range(start + 1, start + 5))
    assert {e["sender"] for e in seen} == {"@alice:localhost"}
    assert code == exitcodes.INTERRUPTED


def test_history_shows_text_base64_and_membership_and_pages_backwards(
    server: ServerProcess, terminals: Terminals, tmp_path: Path
) -> None:
    alice, bob = two_people(terminals, server)
    room_id = team_room(alice, bob)
    attachment = tmp_path / "blob.bin"
    attachment.write_bytes(b"\x89PNG\x00")
    assert alice("send", "team", "hello bob").code == 0
    assert alice("send", "team", "--file", str(attachment)).code == 0
    text = bob("history", "team")
    assert text.code == 0
    assert "@alice:localhost: hello bob" in text.out
    assert "base64:iVBORwA=" in text.out
    assert "* @alice:localhost invited @bob:localhost" in text.out
    assert "* @bob:localhost joined" in text.out
    page = bob("history", room_id, "--limit", "2", "--json").json()
    assert [e["body"] for e in page["events"]] == ["hello bob", "iVBORwA="]
    earlier = bob("history", "team", "--limit", "2", "--before", str(page["prev"]), "--json")
    assert [e["kind"] for e in earlier.json()["events"]] == ["member", "member"]


def test_exit_statuses_tell_scripts_what_failed(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = two_people(terminals, server)
    carol = terminals.open(server, "carol")
    room_id = alice("room", "create", "--name", "private", "--json").json()["room_id"]

    assert carol("room", "list").code == exitcodes.AUTH
    wrong = carol("login", "alice", "--password-stdin", stdin=b"not the password")
    assert wrong.code == exitcodes.AUTH
    assert bob("send", "nowhere", "hi").code == exitcodes.NOT_FOUND
    refused = bob("send", room_id, "let me in", "--json")
    assert refused.code == exitcodes.FORBIDDEN
    assert json.loads(refused.err)["error"]["code"] == "not_member"
    assert bob("room", "join", room_id).code == exitcodes.FORBIDDEN
    assert bob("send", "team").code == exitcodes.USAGE
    assert bob("history", "team", "--limit", "0").code == exitcodes.USAGE
    nobody_there = f"http://127.0.0.1:{free_port()}"
    gone = carol("--server", nobody_there, "login", "alice", "--password-stdin", stdin=b"x" * 9)
    assert gone.code == exitcodes.UNREACHABLE
    # A session belongs to its server: its tokens are never offered to another one.
    assert bob("--server", nobody_there, "room", "list").code == exitcodes.AUTH
    # Sign-ins are limited per address; hammering them must end in "rate limited", not "auth".
    codes = [carol("login", "alice", "--password-stdin", stdin=b"guess").code for _ in range(12)]
    assert exitcodes.RATE_LIMITED in codes
    assert set(codes) <= {exitcodes.AUTH, exitcodes.RATE_LIMITED}


def test_profiles_keep_accounts_apart_in_private_session_files(
    server: ServerProcess, terminals: Terminals
) -> None:
    shared = terminals.open(server, "shared")
    for name in ("alice", "bob"):
        signed = shared(
            "--profile",
            name,
            "register",
            name,
            "--password-stdin",
            "--json",
            stdin=PASSWORD.encode(),
        )
        assert signed.code == 0
        assert signed.json()["user_id"] == f"@{name}:localhost"
        assert "token" not in signed.out
    assert shared("--profile", "alice", "room", "create", "--name", "a-only").code == 0
    alice_rooms = shared("room", "list", "--json", "--profile", "alice").json()["rooms"]
    bob_rooms = shared("room", "list", "--json", "--profile", "bob").json()["rooms"]
    assert [r["name"] for r in alice_rooms] == ["a-only"]
    assert bob_rooms == []
    for name in ("alice", "bob"):
        path = shared.config_dir / "profiles" / name / "session.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert shared("--profile", "../escape", "room", "list").code == exitcodes.USAGE


def test_devices_revoke_and_logout_end_sessions(
    server: ServerProcess, terminals: Terminals
) -> None:
    laptop, phone = terminals.open(server, "laptop"), terminals.open(server, "phone")
    laptop.sign_up("dana")
    assert phone("login", "dana", "--password-stdin", stdin=PASSWORD.encode()).code == 0
    devices = laptop("devices", "--json").json()["devices"]
    assert len(devices) == 2
    other = next(d["device_id"] for d in devices if not d["current"])
    assert laptop("devices", "revoke", other).code == 0
    assert phone("room", "list").code == exitcodes.AUTH
    assert laptop.script("logout").code == 0
    assert not (laptop.config_dir / "profiles" / "default" / "session.json").exists()
    assert laptop("devices").code == exitcodes.AUTH
    again = laptop("login", "dana", "--password-stdin", stdin=PASSWORD.encode())
    assert again.code == 0


def test_direct_rooms_and_kicks_by_short_user_names(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = two_people(terminals, server)
    direct = alice("room", "create", "--name", "dm", "--direct", "bob", "--json").json()
    assert direct["kind"] == "direct"
    assert {m["user_id"] for m in direct["members"]} == {"@alice:localhost", "@bob:localhost"}
    room_id = team_room(alice, bob)
    assert alice("room", "kick", "team", "@bob:localhost").code == 0
    assert bob("send", room_id, "still here?").code == exitcodes.FORBIDDEN


async def test_processes_sharing_a_profile_never_spend_one_refresh_token_twice(
    tmp_path: Path,
) -> None:
    proc = ServerProcess(
        tmp_path / "data",
        sqlite_url(tmp_path / "data"),
        extra_args=["--access-token-ttl", str(TOKEN_TTL)],
    )
    base = tmp_path / "config"
    with running(proc):
        tail_store = Profile(server=proc.base_url, base=base)
        async with SottoClient(proc.base_url, store=tail_store) as tail:
            await tail.register(random_name(), PASSWORD)
            send_store = Profile(base=base)
            async with SottoClient(send_store.server, store=send_store) as send:
                await asyncio.sleep(TOKEN_TTL + 1.1)  # let the access token expire
                # Both find the token expired and refresh at once, as two processes would.
                answers = await asyncio.gather(tail.rooms(), send.rooms())
                assert answers[0] == answers[1] == []
                # A refresh token spent twice would have revoked the device.
                assert len(await send.devices()) == 1
                assert tail_store.load() == send.session == tail.session


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_every_command_and_option_is_explained_in_help() -> None:
    undocumented = [
        f"{parser.prog} {action.dest}"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == []
    top = build_parser().format_help()
    assert "exit status" in top and "rate limited" in top
