"""The ``sotto`` command against a real server that accepts only MLS messages: two people in two
"terminals" (separate config directories), every message end-to-end encrypted with each
profile's keystore (every command is a new process or a fresh run, so keys and group state come
back from it), a tail that outlives kill -9, --json output, profiles, exit statuses, and a new
device linked to an account. The server's files never hold what anyone wrote."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import queue
import secrets
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from sottovoce.cli import exitcodes
from sottovoce.cli.main import build_parser, main
from sottovoce.cli.profile import Profile
from sottovoce.client import SottoClient
from sottovoce.core.errors import BadRequest
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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A fresh server whose per-address request limit the tests' back-to-back commands (several
    requests each: keys, catch-up, send, all from 127.0.0.1) do not reach; sign-in limits stay."""
    data = tmp_path / "data"
    proc = ServerProcess(data, sqlite_url(data), extra_args=["--http-rate-limit", "1000"])
    with running(proc):
        yield proc


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
    env_extra: dict[str, str] = field(default_factory=dict)
    """SOTTO_* variables this shell sets (others are cleared), e.g. SOTTO_PASSPHRASE."""

    def argv(self, *args: str) -> list[str]:
        return ["--server", self.server.base_url, *args]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOTTO_")}
        own = {"SOTTO_CONFIG_DIR": str(self.config_dir), "PYTHONUNBUFFERED": "1"}
        return {**env, **self.env_extra, **own}

    def __call__(self, *args: str, stdin: bytes = b"") -> Result:
        """Run ``sotto`` in this process (fast): same code path as the script, real server."""
        for name in [k for k in os.environ if k.startswith("SOTTO_")]:
            self.monkeypatch.delenv(name)
        for name, value in {**self.env_extra, "SOTTO_CONFIG_DIR": str(self.config_dir)}.items():
            self.monkeypatch.setenv(name, value)
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
        result = self(
            "register", name, "--no-passphrase", "--password-stdin", stdin=PASSWORD.encode()
        )
        assert result.code == 0, result.err

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.code == 0, result.err
        return result.out


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


def messages(terminal: Terminal, room: str) -> list[list[str]]:
    """[sender, text] of each message ``sotto history`` shows."""
    events = terminal("history", room, "--json").json()["events"]
    return [[e["sender"], e["body"]] for e in events if e["kind"] == "message"]


def server_bytes(server: ServerProcess) -> bytes:
    """Everything the server wrote: database, its journal and the log."""
    files = sorted(server.data_dir.rglob("*"))
    return b"".join(p.read_bytes() for p in files if p.is_file())


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
    marker = secrets.token_hex(8)
    try:
        lines = Lines(tail)
        assert alice.script("send", "team", f"one {marker}").code == 0
        assert alice("send", room_id, f"two {marker}").code == 0
        before = [lines.next_json(), lines.next_json()]
        server.kill()
        server.start()
        assert alice("send", "team", f"three {marker}").code == 0
        assert alice("send", "team", "-", stdin=b"\xff\x00binary").code == 0
        after = [lines.next_json(), lines.next_json()]
    finally:
        tail.send_signal(signal.SIGINT)
        code = tail.wait(LINE_TIMEOUT)
        assert tail.stderr is not None
        problems = tail.stderr.read().decode()
    seen = before + after
    assert all(line["room_id"] == room_id for line in seen)
    assert [(e["body"], e["encoding"]) for e in seen] == [
        (f"one {marker}", "utf-8"),
        (f"two {marker}", "utf-8"),
        (f"three {marker}", "utf-8"),
        ("/wBiaW5hcnk=", "base64"),
    ]
    # Each message is the next event: no commit came between them.
    assert [e["seq"] for e in seen] == list(range(start + 1, start + 5))
    assert {e["sender"] for e in seen} == {"@alice:localhost"}
    assert code == exitcodes.INTERRUPTED, problems
    assert marker.encode() not in server_bytes(server)


def test_history_shows_text_base64_and_membership_and_pages_backwards(
    server: ServerProcess, terminals: Terminals, tmp_path: Path
) -> None:
    alice, bob = two_people(terminals, server)
    room_id = team_room(alice, bob)
    attachment = tmp_path / "blob.bin"
    attachment.write_bytes(b"\x89PNG\x00")
    hello, reply = f"hello bob {secrets.token_hex(8)}", f"hi alice {secrets.token_hex(8)}"
    assert alice("send", "team", hello).code == 0
    assert alice("send", "team", "--file", str(attachment)).code == 0
    assert bob("send", "team", reply).code == 0
    for reader in (alice, bob):
        text = reader("history", "team")
        assert text.code == 0
        assert f"@alice:localhost: {hello}" in text.out
        assert "base64:iVBORwA=" in text.out
        assert f"@bob:localhost: {reply}" in text.out
        assert "* @alice:localhost invited @bob:localhost" in text.out
        assert "* @bob:localhost joined" in text.out
    page = bob("history", room_id, "--limit", "3", "--json").json()
    assert [e["body"] for e in page["events"]] == [hello, "iVBORwA=", reply]
    # Earlier: the join, the Add commit (not shown: it decrypts to nothing) and the invite.
    earlier = bob("history", "team", "--limit", "3", "--before", str(page["prev"]), "--json")
    assert [e["kind"] for e in earlier.json()["events"]] == ["member", "member"]
    stored = server_bytes(server)
    assert hello.encode() not in stored and reply.encode() not in stored


def test_exit_statuses_tell_scripts_what_failed(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = two_people(terminals, server)
    carol = terminals.open(server, "carol")
    room_id = alice("room", "create", "--name", "private", "--json").json()["room_id"]

    assert carol("room", "list").code == exitcodes.AUTH
    # Carol's keystore is made (key file) before her command finds she is not signed in.
    assert carol("send", room_id, "hi", "--no-passphrase").code == exitcodes.AUTH
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
            "--no-passphrase",
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
    signed = phone("login", "dana", "--no-passphrase", "--password-stdin", stdin=PASSWORD.encode())
    assert signed.code == 0, signed.err
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
    bob.ok("room", "join", "dm")
    marker = secrets.token_hex(8)
    bob.ok("send", "dm", f"hi {marker}")
    assert f"@bob:localhost: hi {marker}" in alice.ok("history", "dm")
    # Leaving proposes Bob's removal from the group; Alice's next message commits it first.
    bob.ok("room", "leave", "dm")
    alice.ok("send", "dm", f"bye {marker}")
    assert bob("history", direct["room_id"]).code == exitcodes.FORBIDDEN
    assert f"@alice:localhost: bye {marker}" in alice.ok("history", "dm")

    room_id = team_room(alice, bob)
    assert alice("room", "kick", "team", "@bob:localhost").code == 0
    # The group moved on without Bob: Alice still sends, and reads it back, in a new epoch.
    alice.ok("send", "team", f"after {marker}")
    assert f"@alice:localhost: after {marker}" in alice.ok("history", "team")
    assert bob("send", room_id, "still here?").code == exitcodes.FORBIDDEN
    assert marker.encode() not in server_bytes(server)


def test_keystore_key_sources_and_no_silent_plaintext(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice = terminals.open(server, "alice")
    # No terminal, no SOTTO_PASSPHRASE, no keyring, no --no-passphrase: nothing is created.
    refused = alice("register", "alice", "--password-stdin", stdin=PASSWORD.encode())
    assert refused.code == exitcodes.KEYS
    assert "SOTTO_PASSPHRASE" in refused.err and "--no-passphrase" in refused.err
    assert not (alice.config_dir / "profiles" / "default" / "session.json").exists()
    # SOTTO_PASSPHRASE: the keystore is locked by it; commands without it fail the same way.
    alice.env_extra["SOTTO_PASSPHRASE"] = "correct horse battery staple"
    assert alice("register", "alice", "--password-stdin", stdin=PASSWORD.encode()).code == 0
    assert not (alice.config_dir / "profiles" / "default" / "keystore.key").exists()
    alice.ok("room", "create", "--name", "notes")
    del alice.env_extra["SOTTO_PASSPHRASE"]
    assert alice("send", "notes", "locked").code == exitcodes.KEYS
    alice.env_extra["SOTTO_PASSPHRASE"] = "not the passphrase"
    assert alice("send", "notes", "wrong key").code == exitcodes.KEYS
    alice.env_extra["SOTTO_PASSPHRASE"] = "correct horse battery staple"
    marker = secrets.token_hex(8)
    alice.ok("send", "notes", marker)
    assert f"@alice:localhost: {marker}" in alice.ok("history", "notes")
    # The server itself takes nothing but MLS messages: a plaintext body is refused.
    room_id = alice("room", "list", "--json").json()["rooms"][0]["room_id"]
    profile = Profile(server=server.base_url, base=alice.config_dir)

    async def send_plaintext() -> None:
        async with SottoClient(server.base_url, store=profile) as plain:
            await plain.send(room_id, marker.encode())

    with pytest.raises(BadRequest):
        asyncio.run(send_plaintext())
    assert marker.encode() not in server_bytes(server)


def test_a_device_linked_through_the_cli_reads_what_is_sent_after_it_joined(
    server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = two_people(terminals, server)
    team_room(alice, bob)
    alice.ok("send", "team", "before the laptop")
    laptop = terminals.open(server, "alice-laptop")
    signed = laptop(
        "login", "alice", "--no-passphrase", "--password-stdin", "--json", stdin=PASSWORD.encode()
    )
    assert signed.code == 0, signed.err
    assert signed.json()["linked"] is False
    assert "sotto link" in signed.err
    assert laptop("send", "team", "too early").code == exitcodes.KEYS
    link = subprocess.Popen(
        [sys.executable, "-m", "sottovoce", *laptop.argv("link", "--json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=laptop.env(),
    )
    try:
        lines = Lines(link)
        payload = lines.next_json()["payload"]
        assert payload.startswith("sotto-link:")
        assert bob("link", "approve", payload).code != 0  # not Bob's device
        alice.ok("link", "approve", payload)
        linked = lines.next_json()
    finally:
        code = link.wait(LINE_TIMEOUT)
        assert link.stderr is not None
        problems = link.stderr.read().decode()
    assert code == 0, problems
    assert linked["linked"] == "@alice:localhost"
    assert [r["name"] for r in laptop("room", "list", "--json").json()["rooms"]] == ["team"]
    again = laptop("link", "--json")
    assert again.code == 0, again.err
    assert again.json()["rooms"] == []  # linked already, and in every room

    marker = secrets.token_hex(8)
    bob.ok("send", "team", f"bob {marker}")
    alice.ok("send", "team", f"phone {marker}")
    laptop.ok("send", "team", f"laptop {marker}")
    after = [
        ["@bob:localhost", f"bob {marker}"],
        ["@alice:localhost", f"phone {marker}"],
        ["@alice:localhost", f"laptop {marker}"],
    ]
    # The laptop reads everything since it joined, and nothing from before.
    assert messages(laptop, "team") == after
    assert messages(alice, "team")[-3:] == messages(bob, "team")[-3:] == after
    assert marker.encode() not in server_bytes(server)


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
