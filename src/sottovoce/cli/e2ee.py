"""``sotto verify``: the safety number shared with a contact, and marking them verified; the
profile's encrypted keystore, unlocked from the OS keyring, ``SOTTO_PASSPHRASE``, a prompt, or
(``--no-passphrase``) a key file."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, client_command
from sottovoce.client.e2ee import RoomCrypto
from sottovoce.client.identity import IdentityKeyPair
from sottovoce.client.unlock import open_profile_store

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers


def add_passphrase_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-passphrase",
        dest="no_passphrase",
        action="store_true",
        help="when the keystore is created: keep its key in a 0600 file in the profile instead "
        "of asking for a passphrase (protects nothing from whoever can read the profile)",
    )


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    verify = subparsers.add_parser(
        "verify",
        parents=[common],
        help="show the safety number with a user, or mark them verified",
        description="Print the safety number of your identity key and USER's, the same on both "
        "sides. Compare it with USER in person or over another channel; if it matches, run "
        "again with --mark. A changed identity key is reported as a warning. The keystore's "
        "passphrase comes from the OS keyring, SOTTO_PASSPHRASE or a prompt.",
    )
    verify.add_argument("user", metavar="USER", help="@name:server, or name on this server")
    verify.add_argument(
        "--mark", action="store_true", help="mark USER verified (after comparing the number)"
    )
    add_passphrase_option(verify)
    verify.set_defaults(func=client_command(verify_user))


@asynccontextmanager
async def device_crypto(ctx: Context) -> AsyncIterator[RoomCrypto]:
    """This device's end-to-end encryption, started, over the profile's keystore."""
    session = ctx.session()
    opened = open_profile_store(ctx.profile.directory, no_passphrase=ctx.args.no_passphrase)
    if opened.warning is not None:
        print(f"sotto: {opened.warning}", file=sys.stderr)
    store = opened.store
    try:
        held = store.load_identity()
        if held is None:
            identity = IdentityKeyPair.generate()
            store.save_identity(session.user_id, identity)
        else:
            identity = held[1]
        crypto = RoomCrypto(identity, store)
        await crypto.start(ctx.client)
        yield crypto
    finally:
        store.close()


async def verify_user(ctx: Context) -> None:
    user_id = ctx.user_id(ctx.args.user)
    async with device_crypto(ctx) as crypto:
        number, key = await crypto.safety_number(user_id)
        warnings = [str(w) for w in crypto.trust.warnings() if w.user_id == user_id]
        if ctx.args.mark:
            crypto.trust.mark_verified(user_id, key)
        record = crypto.trust.record(user_id)
        status = "unverified" if record is None else record.status.value
    for warning in warnings:
        print(f"sotto: WARNING: {warning}", file=sys.stderr)
    if ctx.json:
        print(json.dumps({"user_id": user_id, "safety_number": number, "status": status}))
    else:
        print(f"{user_id}: {status}")
        print(number)
