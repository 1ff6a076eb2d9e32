"""``sotto register``, ``login``, ``logout`` and ``devices``: accounts and this session."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, UsageError, client_command
from sottovoce.cli.output import device_document, device_line, emit, session_document
from sottovoce.client.e2ee import DeviceNotLinked
from sottovoce.client.records import Session

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    signup = subparsers.add_parser(
        "register",
        parents=[common],
        help="create an account and sign this machine in",
        description="Create an account on the server and keep the new session in the profile. "
        "The password (8 to 1024 characters) is asked for twice, or read from stdin. This device "
        "creates your identity key and keeps it, with every other secret, in the profile's "
        "encrypted keystore (its key: --no-passphrase, SOTTO_PASSPHRASE, the OS keyring, or a "
        "passphrase typed twice).",
    )
    signup.add_argument("name", help="username: 1-64 characters of a-z 0-9 . _ = -")
    signup.add_argument(
        "--invite-code", metavar="CODE", help="needed when the server runs --registration invite"
    )
    _device_name_option(signup)
    signup.set_defaults(func=client_command(register_account, keystore=True))

    login = subparsers.add_parser(
        "login",
        parents=[common],
        help="sign this machine in",
        description="Sign in and keep the session (a new device) in the profile. If your "
        "account already has devices, this one needs your identity key from one of them: run "
        "'sotto link' here, as the command then says.",
    )
    login.add_argument("name", nargs="?", help="username (default: the profile's current account)")
    _device_name_option(login)
    login.set_defaults(func=client_command(log_in, keystore=True))

    logout = subparsers.add_parser(
        "logout",
        parents=[common],
        help="sign this device out",
        description="Propose this device's removal from the groups of your rooms, revoke it on "
        "the server and delete the profile's session (the keystore stays).",
    )
    logout.set_defaults(func=client_command(log_out, keystore=True))

    devices = subparsers.add_parser(
        "devices",
        parents=[common],
        help="list your devices, or revoke one",
        description="List the account's signed-in devices; 'sotto devices revoke ID' signs one "
        "out and closes its live connections.",
    )
    devices.set_defaults(func=client_command(list_devices))
    actions = devices.add_subparsers(metavar="ACTION")
    revoke = actions.add_parser(
        "revoke",
        parents=[common],
        help="sign one device out",
        description="Revoke a device and remove its keys from the groups of your rooms.",
    )
    revoke.add_argument("device_id", metavar="DEVICE_ID", help="as listed by 'sotto devices'")
    revoke.set_defaults(func=client_command(revoke_device, keystore=True))


def _device_name_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device-name",
        metavar="NAME",
        help="how this device appears in 'sotto devices' (default: sotto on <host name>)",
    )


def _device_name(ctx: Context) -> str:
    return str(ctx.args.device_name or f"sotto on {platform.node() or 'this machine'}")


LINK_HINT = (
    "this account already has an identity key on another device: run 'sotto link' here and "
    "approve it there with 'sotto link approve <payload>'"
)


async def _signed_in(ctx: Context, session: Session) -> None:
    # This device publishes its keys now, so others can add it to rooms; a later device of the
    # account first receives the identity key by linking.
    try:
        await ctx.crypto()
        linked = True
    except DeviceNotLinked:
        linked = False
    emit(
        ctx.json,
        {**session_document(ctx.profile.server, session), "linked": linked},
        f"signed in as {session.user_id} (device {session.device_id})",
    )
    if not linked:
        print(f"sotto: {LINK_HINT}", file=sys.stderr)


async def register_account(ctx: Context) -> None:
    password = ctx.password(f"Password for {ctx.args.name}: ", confirm=True)
    session = await ctx.client.register(
        ctx.args.name,
        password,
        invite_code=ctx.args.invite_code,
        device_name=_device_name(ctx),
    )
    await _signed_in(ctx, session)


async def log_in(ctx: Context) -> None:
    name = ctx.args.name
    if name is None:
        current = ctx.client.session
        if current is None:
            raise UsageError("give a NAME: this profile has no account yet")
        name = current.user_id.partition(":")[0].lstrip("@")
    password = ctx.password(f"Password for {name}: ")
    await _signed_in(ctx, await ctx.client.login(name, password, device_name=_device_name(ctx)))


async def log_out(ctx: Context) -> None:
    session = ctx.session()
    if ctx.unstarted_crypto().linked:
        # Proposes this device's removal from every group while it can still send.
        await (await ctx.crypto()).sign_out()
    await ctx.client.logout()
    ctx.profile.forget()
    emit(ctx.json, {"logged_out": session.device_id}, f"signed out device {session.device_id}")


async def list_devices(ctx: Context) -> None:
    ctx.session()
    devices = await ctx.client.devices()
    text = "\n".join(device_line(d) for d in devices) or "no devices"
    emit(ctx.json, {"devices": [device_document(d) for d in devices]}, text)


async def revoke_device(ctx: Context) -> None:
    ctx.session()
    device = ctx.args.device_id
    await ctx.client.revoke_device(device)
    rooms: list[str] = []
    if ctx.unstarted_crypto().linked:
        # Signed out is not enough: its keys would still read the rooms' new messages.
        rooms = await (await ctx.crypto()).remove_device(device)
    text = f"revoked device {device}; removed from {len(rooms)} rooms' groups"
    emit(ctx.json, {"revoked": device, "rooms": rooms}, text)
