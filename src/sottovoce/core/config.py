"""Server configuration: flag > ``SOTTO_*`` environment > TOML file > default, as one pure function.

Reading files (the TOML file, the generated JWT key) happens in the thin helpers at the bottom so
that the precedence rules can be tested with plain dictionaries.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sottovoce.core.models import RegistrationMode

LOG_LEVELS = ("debug", "info", "warning", "error")
THIRTY_DAYS = 30 * 24 * 3600
MIN_SECRET = 32


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the option."""


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("data")
    database_url: str = ""
    server_name: str = "localhost"
    registration: RegistrationMode = RegistrationMode.OPEN
    # None means "generate once into <data_dir>/jwt.key" (see ensure_jwt_secret).
    jwt_secret: str | None = None
    access_token_ttl: int = 900
    refresh_token_ttl: int = THIRTY_DAYS
    log_level: str = "info"
    redis_url: str | None = None
    # Per IP, per minute, for /register and /login; tests of other behaviour may raise it.
    auth_rate_per_minute: int = 10
    # Per user and per IP, requests per second sustained (bursts are three times this).
    http_rate_per_second: int = 20
    # Per WebSocket connection, frames per second sustained (bursts are twice this).
    ws_frame_rate_per_second: int = 64
    # A WebSocket silent this many seconds is pinged, and closed if still silent half of it later.
    ws_heartbeat_seconds: int = 30
    # Store message bodies that are not MLS messages of the room's group at its current epoch
    # (core/delivery.py), unread. Only for transport tests and benchmarks: a server that allows
    # plaintext no longer keeps the promise that it never holds what people write.
    allow_plaintext: bool = False

    @property
    def jwt_key_path(self) -> Path:
        return self.data_dir / "jwt.key"

    @property
    def require_mls(self) -> bool:
        return not self.allow_plaintext


def _positive_int(name: str) -> Callable[[object], int]:
    def convert(value: object) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(value, int | str):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        return number

    return convert


def _port(value: object) -> int:
    port = _positive_int("port")(value)
    if port > 65535:
        raise ConfigError(f"port must be 1-65535, got {port}")
    return port


def _registration(value: object) -> RegistrationMode:
    try:
        return RegistrationMode(str(value).lower())
    except ValueError:
        choices = ", ".join(mode.value for mode in RegistrationMode)
        raise ConfigError(f"registration must be one of {choices}, got {value!r}") from None


def _log_level(value: object) -> str:
    level = str(value).lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return level


def _text(name: str) -> Callable[[object], str]:
    def convert(value: object) -> str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
        return value

    return convert


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("1", "true", "yes", "on"):
        return True
    if str(value).lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def _secret(value: object) -> str:
    secret = _text("jwt_secret")(value)
    if len(secret) < MIN_SECRET:
        raise ConfigError(f"jwt_secret must be at least {MIN_SECRET} characters long")
    return secret


_FIELDS: dict[str, Callable[[object], Any]] = {
    "host": _text("host"),
    "port": _port,
    "data_dir": lambda value: Path(_text("data_dir")(value)),
    "database_url": _text("database_url"),
    "server_name": _text("server_name"),
    "registration": _registration,
    "jwt_secret": _secret,
    "access_token_ttl": _positive_int("access_token_ttl"),
    "refresh_token_ttl": _positive_int("refresh_token_ttl"),
    "log_level": _log_level,
    "redis_url": _text("redis_url"),
    "auth_rate_per_minute": _positive_int("auth_rate_per_minute"),
    "http_rate_per_second": _positive_int("http_rate_per_second"),
    "ws_frame_rate_per_second": _positive_int("ws_frame_rate_per_second"),
    "ws_heartbeat_seconds": _positive_int("ws_heartbeat_seconds"),
    "allow_plaintext": _flag,
}


def load_config(
    flags: Mapping[str, object], env: Mapping[str, str], toml: Mapping[str, object]
) -> Config:
    """Merge the three sources; ``flags`` holds parsed options, None meaning "not given"."""
    unknown = set(toml) - set(_FIELDS)
    if unknown:
        raise ConfigError(f"unknown configuration keys: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, convert in _FIELDS.items():
        raw: object = flags.get(name)
        if raw is None:
            raw = env.get(f"SOTTO_{name.upper()}") or None
        if raw is None:
            raw = toml.get(name)
        if raw is not None:
            values[name] = convert(raw)
    config = Config(**values)
    if not config.database_url:
        url = f"sqlite+aiosqlite:///{config.data_dir / 'sottovoce.db'}"
        config = replace(config, database_url=url)
    return config


def config_file(flags: Mapping[str, object], env: Mapping[str, str]) -> Path | None:
    given = flags.get("config") or env.get("SOTTO_CONFIG")
    return Path(str(given)) if given else None


def read_toml(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def resolve_config(flags: Mapping[str, object], env: Mapping[str, str]) -> Config:
    """Everything ``load_config`` needs, read from disk: the one impure entry point."""
    return load_config(flags, env, read_toml(config_file(flags, env)))


def ensure_jwt_secret(config: Config) -> Config:
    """Return ``config`` with a signing secret, generating ``<data_dir>/jwt.key`` (0600) once."""
    if config.jwt_secret is not None:
        return config
    path = config.jwt_key_path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
    else:
        secret = secrets.token_urlsafe(48)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secret + "\n")
    if not secret:
        raise ConfigError(f"{path} is empty; delete it to generate a new key")
    return replace(config, jwt_secret=secret)
