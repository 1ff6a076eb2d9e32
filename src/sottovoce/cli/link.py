"""``sotto link`` (on a new device) and ``sotto link approve`` (on one already in use): give a
new device of your account the identity key, end to end encrypted (``client/device_link.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, client_command
from sottovoce.cli.output import emit
from sottovoce.client.device_link import approve_link, link_this_device
from sottovoce.client.linking import LinkRequest

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers

DEFAULT_TIMEOUT = 300.0


def _seconds(value: str) -> float:
    number = float(value)
    if not 0 < number <= 86400:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 86400")
    return number


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    link = subparsers.add_parser(
        "link",
        parents=[common],
        help="give this new device your identity key from another device",
        description="Run on a new device after 'sotto login': prints a sotto-link: payload, "
        "then waits until you run 'sotto link approve <payload>' on a device already in use. "
        "The identity key travels sealed to this device (the server cannot read it) and is "
        "checked against the one your other devices publish. This device then joins every "
        "room you are in (run it again on a linked device to join rooms it is missing).",
    )
    link.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for the approval (default {DEFAULT_TIMEOUT:g})",
    )
    link.set_defaults(func=client_command(link_device, keystore=True))
    actions = link.add_subparsers(metavar="ACTION")
    approve = actions.add_parser(
        "approve",
        parents=[common],
        help="send your identity key to the new device that shows PAYLOAD",
        description="Run on a device already in use: seals your identity key to the new device "
        "that printed PAYLOAD and sends it to that device's mailbox. Refused unless that device "
        "is signed in to your account.",
    )
    approve.add_argument("payload", metavar="PAYLOAD", help="sotto-link:… as the new device shows")
    approve.set_defaults(func=client_command(approve_device, keystore=True))


async def link_device(ctx: Context) -> None:
    session = ctx.session()
    if ctx.unstarted_crypto().linked:
        # Linked already (perhaps a run that stopped while joining): join what is left.
        rooms = await (await ctx.crypto()).join_rooms()
        document = {"linked": session.user_id, "device_id": session.device_id, "rooms": rooms}
        text = f"this device already holds your identity key; joined {len(rooms)} more rooms"
        emit(ctx.json, document, text)
        return
    crypto = ctx.unstarted_crypto()
    request = LinkRequest.generate(session.device_id)
    if ctx.json:
        print(json.dumps({"payload": request.payload}), flush=True)
    else:
        print(request.payload, flush=True)
        print(
            f"sotto: on a device already signed in as {session.user_id}, run\n"
            f"  sotto link approve {request.payload}\n"
            f"waiting up to {ctx.args.timeout:g} s…",
            file=sys.stderr,
            flush=True,
        )
    rooms = await link_this_device(crypto, ctx.client, request, within=ctx.args.timeout)
    document = {"linked": session.user_id, "device_id": session.device_id, "rooms": rooms}
    emit(ctx.json, document, f"linked device {session.device_id}; joined {len(rooms)} rooms")


async def approve_device(ctx: Context) -> None:
    target = await approve_link(await ctx.crypto(), ctx.args.payload)
    emit(
        ctx.json,
        {"approved": target.device_id},
        f"sent your identity key to device {target.device_id}",
    )
