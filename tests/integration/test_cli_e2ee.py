"""Two people chat through ``sotto`` on a server that accepts only MLS messages: every command is
a new process (or a fresh run), so keys and group state must come back from each profile's
keystore; the server's files never hold the text, and history and tail show it decrypted."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sottovoce.cli import exitcodes
from tests.integration.conftest import running
from tests.integration.harness import PASSWORD, ServerProcess, sqlite_url
from tests.integration.test_cli import LINE_TIMEOUT, Lines, Terminal, Terminals


@pytest.fixture
def mls_server(tmp_path: Path) -> Iterator[ServerProcess]:
    data = tmp_path / "data"
    env = {"SOTTO_REQUIRE_MLS": "1"}
    with running(ServerProcess(data, sqlite_url(data), env=env)) as proc:
        yield proc


@pytest.fixture
def terminals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Terminals:
    return Terminals(tmp_path, monkeypatch)


def sign_up(terminal: Terminal, name: str) -> None:
    result = terminal(
        "register", name, "--no-passphrase", "--password-stdin", stdin=PASSWORD.encode()
    )
    assert result.code == 0, result.err


def ok(terminal: Terminal, *args: str) -> str:
    result = terminal(*args)
    assert result.code == 0, result.err
    return result.out


def server_bytes(data_dir: Path) -> bytes:
    """Everything the server wrote: database, its journal and the log."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*")) if p.is_file())


def test_two_cli_users_chat_encrypted_and_the_server_never_holds_the_text(
    mls_server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = terminals.open(mls_server, "alice"), terminals.open(mls_server, "bob")
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    ok(alice, "room", "create", "--name", "team")
    ok(alice, "room", "invite", "team", "bob")
    ok(bob, "room", "join", "team")
    first, reply = f"hello {secrets.token_hex(8)}", f"reply {secrets.token_hex(8)}"
    ok(alice, "send", "team", first)
    ok(bob, "send", "team", reply)

    at_bob, at_alice = ok(bob, "history", "team"), ok(alice, "history", "team")
    for shown in (at_bob, at_alice):
        assert f"@alice:localhost: {first}" in shown
        assert f"@bob:localhost: {reply}" in shown
    documents = bob("history", "team", "--json").json()["events"]
    assert [e["body"] for e in documents if e["kind"] == "message"] == [first, reply]

    stored = server_bytes(mls_server.data_dir)
    assert first.encode() not in stored and reply.encode() not in stored


def test_a_plaintext_profile_cannot_send_to_a_server_that_requires_mls(
    mls_server: ServerProcess, terminals: Terminals
) -> None:
    alice = terminals.open(mls_server, "alice")
    alice.sign_up("alice")  # no keystore: this profile sends plaintext
    ok(alice, "room", "create", "--name", "notes")
    marker = secrets.token_hex(8)
    assert alice("send", "notes", marker).code != 0
    assert marker.encode() not in server_bytes(mls_server.data_dir)


def test_tail_in_another_process_shows_the_decrypted_messages(
    mls_server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = terminals.open(mls_server, "alice"), terminals.open(mls_server, "bob")
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    ok(alice, "room", "create", "--name", "team")
    ok(alice, "room", "invite", "team", "bob")
    ok(bob, "room", "join", "team")
    marker = secrets.token_hex(8)
    start = str(bob("room", "list", "--json").json()["rooms"][0]["last_seq"])
    tail = subprocess.Popen(
        [sys.executable, "-m", "sottovoce", *bob.argv("tail", "team", "--json", "--since", start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=bob.env(),
    )
    try:
        lines = Lines(tail)
        assert alice.script("send", "team", f"one {marker}").code == 0
        ok(alice, "send", "team", f"two {marker}")
        seen = [lines.next_json(), lines.next_json()]
    finally:
        tail.send_signal(signal.SIGINT)
        code = tail.wait(LINE_TIMEOUT)
        assert tail.stderr is not None
        problems = tail.stderr.read().decode()
    assert code == exitcodes.INTERRUPTED, problems
    assert [e["body"] for e in seen] == [f"one {marker}", f"two {marker}"]
    assert {e["sender"] for e in seen} == {"@alice:localhost"}
    assert marker.encode() not in server_bytes(mls_server.data_dir)


def test_a_direct_room_is_encrypted_and_a_kicked_member_leaves_the_group(
    mls_server: ServerProcess, terminals: Terminals
) -> None:
    alice, bob = terminals.open(mls_server, "alice"), terminals.open(mls_server, "bob")
    sign_up(alice, "alice")
    sign_up(bob, "bob")
    ok(alice, "room", "create", "--name", "dm", "--direct", "bob")
    ok(bob, "room", "join", "dm")
    marker = secrets.token_hex(8)
    ok(bob, "send", "dm", f"hi {marker}")
    assert f"@bob:localhost: hi {marker}" in ok(alice, "history", "dm")

    ok(alice, "room", "create", "--name", "team")
    ok(alice, "room", "invite", "team", "bob")
    ok(bob, "room", "join", "team")
    ok(alice, "room", "kick", "team", "bob")
    # The group moved on without Bob: Alice still sends, and reads it back, in a new epoch.
    ok(alice, "send", "team", f"after {marker}")
    assert f"@alice:localhost: after {marker}" in ok(alice, "history", "team")
    assert bob("send", "team", "still here?").code != 0
    assert marker.encode() not in server_bytes(mls_server.data_dir)
