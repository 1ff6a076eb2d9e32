"""What every client command runs with: the profile, an SDK client (encrypting every message
through the profile's keystore), name resolution, password input, and the one place where errors
become messages and exit statuses."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sottovoce.cli import exitcodes
from sottovoce.cli.encryption import DeviceCrypto
from sottovoce.cli.output import report_error
from sottovoce.cli.profile import DEFAULT_PROFILE, Profile
from sottovoce.client.e2ee import RoomCrypto
from sottovoce.client.records import RoomInfo, Session
from sottovoce.client.sdk import SottoClient
from sottovoce.core.errors import BadRequest, NotFound, SottoError, Unauthenticated


class UsageError(Exception):
    """The command line cannot be carried out as written (exit status 2)."""


@dataclass
class Context:
    args: argparse.Namespace
    profile: Profile
    client: SottoClient
    device: DeviceCrypto | None = None

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    def session(self) -> Session:
        session = self.client.session
        if session is None:
            raise Unauthenticated(
                f"not signed in to {self.profile.server} with profile {self.profile.name!r}: "
                "run 'sotto login NAME' first"
            )
        return session

    def _device(self) -> DeviceCrypto:
        if self.device is None:
            raise RuntimeError("a command that encrypts must be made with keystore=True")
        return self.device

    def unstarted_crypto(self) -> RoomCrypto:
        """This device's encryption before it starts: linking gives it its identity first."""
        return self._device().crypto

    async def crypto(self) -> RoomCrypto:
        """This device's encryption, started (signed in, keys published)."""
        device = self._device()
        self.session()  # raises the "sign in first" error for a profile without a session
        return await device.started(self.client)

    def user_id(self, user: str) -> str:
        """``bob`` means ``@bob:<this session's server name>``; full ids pass unchanged."""
        if user.startswith("@"):
            return user
        return f"@{user.lower()}:{self.session().server_name}"

    async def room(self, room: str) -> RoomInfo:
        """A room by id, or by the name of a room this account is joined to or invited to."""
        if room.startswith("!"):
            return await self.client.room(room)
        matches = [r for r in await self.client.rooms() if r.name == room]
        if not matches:
            raise NotFound(f"you are in no room named {room!r} (see 'sotto room list')")
        if len(matches) > 1:
            ids = ", ".join(r.room_id for r in matches)
            raise UsageError(f"several rooms are named {room!r}: use one of the ids {ids}")
        return matches[0]

    async def room_id(self, room: str) -> str:
        return room if room.startswith("!") else (await self.room(room)).room_id

    def password(self, prompt: str, *, confirm: bool = False) -> str:
        if self.args.password_stdin:
            line = sys.stdin.readline()
            password = line[:-1] if line.endswith("\n") else line
            if not password:
                raise UsageError("--password-stdin: stdin held no password")
            return password
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat the password: ") != password:
            raise UsageError("the passwords do not match")
        return password


Handler = Callable[[Context], Awaitable[None]]


def profile_of(args: argparse.Namespace) -> Profile:
    name = args.profile or os.environ.get("SOTTO_PROFILE") or DEFAULT_PROFILE
    server = args.server or os.environ.get("SOTTO_SERVER") or None
    try:
        return Profile(name, server)
    except BadRequest as exc:
        raise UsageError(exc.message) from None


async def _run(handler: Handler, args: argparse.Namespace, keystore: bool) -> None:
    profile = profile_of(args)
    device = None
    if keystore:
        # Opened before the server is asked anything: a command that cannot encrypt fails
        # before it changes anything there.
        device = DeviceCrypto(profile.directory, no_passphrase=bool(args.no_passphrase))
    try:
        codec = None if device is None else device.crypto
        async with SottoClient(profile.server, store=profile, codec=codec) as client:
            await handler(Context(args, profile, client, device))
    finally:
        if device is not None:
            device.close()


def client_command(
    handler: Handler, *, keystore: bool = False
) -> Callable[[argparse.Namespace], int]:
    """The argparse ``func`` for an async handler: runs it and maps failures to exit statuses.
    ``keystore``: the command encrypts or decrypts, so it opens (or creates) the keystore."""

    def run(args: argparse.Namespace) -> int:
        try:
            asyncio.run(_run(handler, args, keystore))
        except SottoError as exc:
            report_error(args.json, exc)
            return exitcodes.exit_code(exc)
        except UsageError as exc:
            print(f"sotto: {exc}", file=sys.stderr)
            return exitcodes.USAGE
        except OSError as exc:
            print(f"sotto: {exc}", file=sys.stderr)
            return exitcodes.ERROR
        except KeyboardInterrupt:
            return exitcodes.INTERRUPTED
        return exitcodes.OK

    return run
