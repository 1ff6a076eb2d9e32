from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sottovoce.core.config import Config, ConfigError, ensure_jwt_secret, load_config
from sottovoce.core.models import RegistrationMode


def test_defaults_listen_on_loopback_with_sqlite_in_the_data_dir() -> None:
    config = load_config({}, {}, {})
    assert (config.host, config.port, config.server_name) == ("127.0.0.1", 8000, "localhost")
    assert config.registration is RegistrationMode.OPEN
    assert config.database_url == "sqlite+aiosqlite:///data/sottovoce.db"
    assert config.access_token_ttl == 900
    assert config.refresh_token_ttl == 30 * 24 * 3600
    assert config.jwt_secret is None


def test_flag_beats_environment_beats_file() -> None:
    toml = {"port": 7000, "server_name": "file.example", "host": "::1"}
    env = {"SOTTO_PORT": "7001", "SOTTO_SERVER_NAME": "env.example"}
    config = load_config({"port": 7002, "host": None}, env, toml)
    assert config.port == 7002
    assert config.server_name == "env.example"
    assert config.host == "::1"


def test_database_url_follows_the_data_dir_unless_given() -> None:
    assert load_config({"data_dir": "/srv/sotto"}, {}, {}).database_url == (
        "sqlite+aiosqlite:////srv/sotto/sottovoce.db"
    )
    url = "postgresql+asyncpg://u@127.0.0.1/db"
    assert load_config({"data_dir": "/srv"}, {"SOTTO_DATABASE_URL": url}, {}).database_url == url


def test_empty_environment_values_count_as_unset() -> None:
    assert load_config({}, {"SOTTO_PORT": ""}, {"port": 9000}).port == 9000


@pytest.mark.parametrize(
    ("flags", "toml", "option"),
    [
        ({"port": "eighty"}, {}, "port"),
        ({"port": 70000}, {}, "port"),
        ({}, {"registration": "sometimes"}, "registration"),
        ({}, {"log_level": "loud"}, "log_level"),
        ({"access_token_ttl": 0}, {}, "access_token_ttl"),
        ({}, {"port": True}, "port"),
        ({}, {"colour": "blue"}, "colour"),
        ({"jwt_secret": "too short"}, {}, "jwt_secret"),
    ],
)
def test_bad_values_are_refused_naming_the_option(
    flags: dict[str, object], toml: dict[str, object], option: str
) -> None:
    with pytest.raises(ConfigError, match=option):
        load_config(flags, {}, toml)


def test_registration_is_case_insensitive() -> None:
    config = load_config({}, {"SOTTO_REGISTRATION": "INVITE"}, {})
    assert config.registration is RegistrationMode.INVITE


def test_generated_jwt_secret_is_private_and_stable(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path / "data")
    first = ensure_jwt_secret(config)
    second = ensure_jwt_secret(config)
    assert first.jwt_secret and first.jwt_secret == second.jwt_secret
    mode = stat.S_IMODE((tmp_path / "data" / "jwt.key").stat().st_mode)
    assert mode == 0o600


def test_given_jwt_secret_is_kept_and_nothing_is_written(tmp_path: Path) -> None:
    config = Config(data_dir=tmp_path, jwt_secret="x" * 40)
    assert ensure_jwt_secret(config).jwt_secret == "x" * 40
    assert not (tmp_path / "jwt.key").exists()


def test_the_server_requires_mls_unless_plaintext_is_allowed_explicitly() -> None:
    assert load_config({}, {}, {}).require_mls
    assert not load_config({"allow_plaintext": True}, {}, {}).require_mls
    assert not load_config({}, {"SOTTO_ALLOW_PLAINTEXT": "1"}, {}).require_mls
    assert not load_config({}, {}, {"allow_plaintext": True}).require_mls
    assert load_config({}, {"SOTTO_ALLOW_PLAINTEXT": "0"}, {"allow_plaintext": True}).require_mls
