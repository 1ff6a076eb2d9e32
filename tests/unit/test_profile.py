"""The CLI's session files: private, atomic, bound to their server (cli/profile.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sottovoce.cli.profile import DEFAULT_SERVER, Profile
from sottovoce.client.records import Session
from sottovoce.core.errors import BadRequest

SESSION = Session("@alice:localhost", "ABCDEFGHIJKL", "access", "refresh")


def test_a_saved_session_is_private_and_loads_back(tmp_path: Path) -> None:
    profile = Profile("work", "http://127.0.0.1:9000", tmp_path)
    profile.save(SESSION)
    assert stat.S_IMODE(profile.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(profile.directory.stat().st_mode) == 0o700
    assert Profile("work", base=tmp_path).load() == SESSION
    assert [p.name for p in profile.directory.iterdir()] == ["session.json"]


def test_a_profile_remembers_its_server_and_defaults_to_the_local_one(tmp_path: Path) -> None:
    assert Profile(base=tmp_path).server == DEFAULT_SERVER
    Profile(server="https://chat.example/", base=tmp_path).save(SESSION)
    assert Profile(base=tmp_path).server == "https://chat.example"


def test_a_session_is_never_handed_to_another_server(tmp_path: Path) -> None:
    Profile(server="https://chat.example", base=tmp_path).save(SESSION)
    assert Profile(server="https://evil.example", base=tmp_path).load() is None


def test_forgetting_removes_the_session(tmp_path: Path) -> None:
    profile = Profile(base=tmp_path)
    profile.save(SESSION)
    profile.forget()
    assert profile.load() is None


@pytest.mark.parametrize("name", ["..", "a/b", "", "x" * 65, "../../etc"])
def test_profile_names_cannot_leave_the_profiles_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(BadRequest):
        Profile(name, base=tmp_path)
