"""Where the CLI keeps a signed-in session: one 0600 JSON file per profile.

``<config dir>/profiles/<profile>/session.json`` where the config dir is ``$SOTTO_CONFIG_DIR`` or
platformdirs' user config dir for "sottovoce". Writes go to a temporary file that replaces the
old one, so a crash mid-write never leaves half a session (and half a refresh token) behind.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import platformdirs

from sottovoce.client.errors import ProtocolViolation
from sottovoce.client.records import Session, session_from
from sottovoce.core.errors import BadRequest

PROFILE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
DEFAULT_PROFILE = "default"
DEFAULT_SERVER = "http://127.0.0.1:8000"


def config_dir() -> Path:
    configured = os.environ.get("SOTTO_CONFIG_DIR")
    return Path(configured) if configured else Path(platformdirs.user_config_dir("sottovoce"))


class Profile:
    """One profile's session file, bound to one server; implements the SDK's ``SessionStore``.

    ``server`` is the URL asked for (flag or environment); None means the one the profile last
    signed in to. A session is only ever handed out for the server it came from, so tokens are
    never sent to another server.
    """

    def __init__(
        self, name: str = DEFAULT_PROFILE, server: str | None = None, base: Path | None = None
    ) -> None:
        # The name becomes a directory: nothing that could climb out of profiles/.
        if not PROFILE_NAME.fullmatch(name) or name in (".", ".."):
            raise BadRequest(f"profile names are 1-64 characters of A-Z a-z 0-9 . _ - ({name!r})")
        self.name = name
        self.directory = (base or config_dir()) / "profiles" / name
        self.path = self.directory / "session.json"
        saved_server, _ = self._read()
        self.server = (server or saved_server or DEFAULT_SERVER).rstrip("/")

    def _read(self) -> tuple[str | None, Session | None]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except ValueError:
            raise ProtocolViolation(f"{self.path} is not valid JSON: log in again") from None
        if not isinstance(data, dict):
            return None, None
        server, session = data.get("server"), data.get("session")
        return (
            server if isinstance(server, str) else None,
            session_from(session) if isinstance(session, dict) else None,
        )

    def load(self) -> Session | None:
        server, session = self._read()
        return session if server == self.server else None

    def save(self, session: Session) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = json.dumps({"server": self.server, "session": session.to_json()}, indent=2)
        # mkstemp creates the file 0600, so the tokens are never readable by others, not even
        # between the write and the rename.
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".session-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @asynccontextmanager
    async def refreshing(self) -> AsyncIterator[None]:
        """An exclusive lock on the profile while its refresh token is exchanged: a ``tail`` and
        a ``send`` sharing the profile must not both spend the same token, which the server
        would take for theft and answer by revoking the device."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / "refresh.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def forget(self) -> None:
        self.path.unlink(missing_ok=True)
