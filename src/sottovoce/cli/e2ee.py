"""``sotto verify``: the safety number shared with a contact, and marking them verified."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, client_command

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    verify = subparsers.add_parser(
        "verify",
        parents=[common],
        help="show the safety number with a user, or mark them verified",
        description="Print the safety number of your identity key and USER's, the same on both "
        "sides. Compare it with USER in person or over another channel; if it matches, run "
        "again with --mark. A changed identity key is reported as a warning.",
    )
    verify.add_argument("user", metavar="USER", help="@name:server, or name on this server")
    verify.add_argument(
        "--mark", action="store_true", help="mark USER verified (after comparing the number)"
    )
    verify.set_defaults(func=client_command(verify_user, keystore=True))


async def verify_user(ctx: Context) -> None:
    user_id = ctx.user_id(ctx.args.user)
    crypto = await ctx.crypto()
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
