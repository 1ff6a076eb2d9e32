"""``sotto admin``: account administration directly on the database of a node."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sottovoce.cli.options import add_database_options, config_from
from sottovoce.core.auth import hash_password
from sottovoce.core.config import Config
from sottovoce.core.errors import SottoError
from sottovoce.core.ids import normalize_localpart, user_id
from sottovoce.core.models import InviteCode, User
from sottovoce.server.clock import now_ms
from sottovoce.store import open_store
from sottovoce.store.base import Store

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers

Action = Callable[[Store, Config, argparse.Namespace], Awaitable[int]]


class AdminError(Exception):
    """A failure to report on stderr with exit status 1."""


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "admin",
        help="administer accounts on the server's database",
        description="Administer a Sottovoce node directly on its database; use the same "
        "--config / --data-dir / --database-url as 'sotto serve' (or SOTTO_* variables).",
    )
    add_database_options(parser)
    commands = parser.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)

    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("name", help="username (localpart, e.g. alice)")
    create.add_argument("--admin", action="store_true", help="make the account a server admin")
    _password_option(create)
    create.set_defaults(func=_runner(create_user))

    reset = commands.add_parser("reset-password", help="set a new password for an account")
    reset.add_argument("name", help="username")
    _password_option(reset)
    reset.set_defaults(func=_runner(reset_password))

    disable = commands.add_parser(
        "disable", help="disable an account and sign out all of its devices at once"
    )
    disable.add_argument("name", help="username")
    disable.set_defaults(func=_runner(disable_user))

    enable = commands.add_parser("enable", help="allow a disabled account to sign in again")
    enable.add_argument("name", help="username")
    enable.set_defaults(func=_runner(enable_user))

    users = commands.add_parser("list-users", help="list every account")
    users.add_argument("--json", action="store_true", help="print JSON instead of a table")
    users.set_defaults(func=_runner(list_users))

    devices = commands.add_parser("list-devices", help="list an account's active devices")
    devices.add_argument("name", help="username")
    devices.add_argument("--json", action="store_true", help="print JSON instead of a table")
    devices.set_defaults(func=_runner(list_devices))

    invite = commands.add_parser(
        "invite-code", help="create an invite code for --registration invite and print it"
    )
    invite.add_argument(
        "--uses", type=int, default=1, metavar="N", help="how many sign-ups it allows (default 1)"
    )
    invite.add_argument(
        "--expires-in",
        dest="expires_in",
        type=int,
        metavar="SECONDS",
        help="validity from now (default: never expires)",
    )
    invite.set_defaults(func=_runner(invite_code))


def _password_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin",
        dest="password_stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of prompting",
    )


def _runner(action: Action) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        config = config_from(args, "admin")
        if config is None:
            return 2
        try:
            return asyncio.run(_with_store(config, args, action))
        except (AdminError, SottoError, OSError) as exc:
            print(f"sotto admin: {exc}", file=sys.stderr)
            return 1

    return run


async def _with_store(config: Config, args: argparse.Namespace, action: Action) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(config.database_url)
    try:
        return await action(store, config, args)
    finally:
        await store.close()


def _user_id(config: Config, name: str) -> str:
    return user_id(normalize_localpart(name), config.server_name)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != first:
        raise AdminError("the passwords differ")
    return first


async def create_user(store: Store, config: Config, args: argparse.Namespace) -> int:
    uid = _user_id(config, args.name)
    password_hash = hash_password(_read_password(args))
    now = now_ms()
    await store.create_user(User(uid, password_hash, bool(args.admin), False, now), None, now)
    print(uid)
    return 0


async def reset_password(store: Store, config: Config, args: argparse.Namespace) -> int:
    uid = _user_id(config, args.name)
    if await store.get_user(uid) is None:
        raise AdminError(f"no user {uid}")
    if not await store.set_password_hash(uid, hash_password(_read_password(args))):
        raise AdminError(f"no user {uid}")
    print(f"password of {uid} changed")
    return 0


async def _set_disabled(store: Store, config: Config, name: str, disabled: bool) -> int:
    uid = _user_id(config, name)
    if not await store.set_user_disabled(uid, disabled):
        raise AdminError(f"no user {uid}")
    print(f"{uid} {'disabled; all devices signed out' if disabled else 'enabled'}")
    return 0


async def disable_user(store: Store, config: Config, args: argparse.Namespace) -> int:
    return await _set_disabled(store, config, args.name, True)


async def enable_user(store: Store, config: Config, args: argparse.Namespace) -> int:
    return await _set_disabled(store, config, args.name, False)


async def list_users(store: Store, config: Config, args: argparse.Namespace) -> int:
    users = await store.list_users()
    rows = [
        {
            "user_id": u.user_id,
            "is_admin": u.is_admin,
            "disabled": u.disabled,
            "created_at": u.created_at,
        }
        for u in users
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            flags = [name for name in ("is_admin", "disabled") if row[name]]
            print(f"{row['user_id']}\t{','.join(flags) or '-'}")
    return 0


async def list_devices(store: Store, config: Config, args: argparse.Namespace) -> int:
    uid = _user_id(config, args.name)
    if await store.get_user(uid) is None:
        raise AdminError(f"no user {uid}")
    rows = [
        {
            "device_id": d.device_id,
            "display_name": d.display_name,
            "created_at": d.created_at,
            "last_seen_at": d.last_seen_at,
        }
        for d in await store.list_devices(uid)
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['device_id']}\t{row['display_name']}")
    return 0


async def invite_code(store: Store, config: Config, args: argparse.Namespace) -> int:
    if args.uses < 1:
        raise AdminError("--uses must be at least 1")
    if args.expires_in is not None and args.expires_in < 1:
        raise AdminError("--expires-in must be at least 1 second")
    now = now_ms()
    expires = now + args.expires_in * 1000 if args.expires_in is not None else None
    code = secrets.token_urlsafe(16)
    await store.create_invite_code(InviteCode(code, args.uses, expires, now))
    print(code)
    return 0
