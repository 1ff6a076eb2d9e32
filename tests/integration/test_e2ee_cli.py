"""``sotto verify`` against a real server: safety numbers, verified contacts and the warning for a
changed identity key, with each person's keystore in their own profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import PASSWORD, ServerProcess
from tests.integration.test_cli import Terminal, Terminals


@pytest.fixture
def terminals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Terminals:
    return Terminals(tmp_path, monkeypatch)


def verify(terminal: Terminal, who: str, *extra: str) -> tuple[str, str, str]:
    """(status, safety number, stderr) of ``sotto verify``."""
    result = terminal("verify", who, *extra)
    assert result.code == 0, result.err
    status_line, number = result.out.splitlines()
    return status_line.split(": ")[1], number, result.err


def test_both_sides_see_one_safety_number_and_a_marked_contact_shows_verified(
    terminals: Terminals, server: ServerProcess
) -> None:
    alice, bob = terminals.open(server, "alice"), terminals.open(server, "bob")
    alice.sign_up("alice")
    signed = bob("register", "bob", "--no-passphrase", "--password-stdin", stdin=PASSWORD.encode())
    assert signed.code == 0, signed.err
    assert "no passphrase" in signed.err  # --no-passphrase says what it gives up, once
    _, _, warned = verify(bob, "bob")
    assert warned == ""
    status, at_alice, _ = verify(alice, "bob")
    assert status == "unverified"
    _, at_bob, _ = verify(bob, "alice")
    assert at_alice == at_bob
    assert verify(alice, "bob", "--mark")[0] == "verified"
    assert verify(alice, "bob")[0] == "verified"


def test_a_changed_identity_key_of_a_contact_is_a_warning(
    terminals: Terminals, server: ServerProcess
) -> None:
    alice, bob = terminals.open(server, "alice"), terminals.open(server, "bob")
    alice.sign_up("alice")
    bob.sign_up("bob")
    assert verify(alice, "bob", "--mark")[0] == "verified"
    # Bob starts over on a new machine: his old device is gone, the new one has a new identity.
    assert bob("logout").code == 0
    new_bob = terminals.open(server, "bob-again")
    result = new_bob("login", "bob", "--no-passphrase", "--password-stdin", stdin=PASSWORD.encode())
    assert result.code == 0, result.err
    verify(new_bob, "bob")
    status, _, warned = verify(alice, "bob")
    assert status == "changed"
    assert "WARNING" in warned and "identity key of @bob:localhost changed" in warned
