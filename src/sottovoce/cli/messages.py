"""``sotto send``, ``history`` and ``tail``: the room timeline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sottovoce.cli.context import Context, UsageError, client_command
from sottovoce.cli.output import emit, event_document, event_line, sent_document
from sottovoce.cli.rooms import ROOM_HELP
from sottovoce.core.models import Event, EventKind

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers

MAX_LIMIT = 500


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_LIMIT}")
    return number


def _seq(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def register(subparsers: SubParsers, common: argparse.ArgumentParser) -> None:
    send = subparsers.add_parser(
        "send",
        parents=[common],
        help="send a message",
        description="Send a message to a room. TEXT is sent as UTF-8; '-' sends the bytes of "
        "stdin and --file the bytes of a file. Retried on network errors without ever being "
        "stored twice.",
    )
    send.add_argument("room", metavar="ROOM", help=ROOM_HELP)
    send.add_argument("text", metavar="TEXT", nargs="?", help="the message, or - for stdin")
    send.add_argument("--file", metavar="PATH", type=Path, help="send this file's bytes")
    send.set_defaults(func=client_command(send_message, keystore=True))

    history = subparsers.add_parser(
        "history",
        parents=[common],
        help="print a room's past messages",
        description="Print one page of a room's timeline, oldest first: the latest events, or "
        "those just before --before. Bodies print as UTF-8 text, or as base64 when they are "
        "not UTF-8.",
    )
    history.add_argument("room", metavar="ROOM", help=ROOM_HELP)
    history.add_argument(
        "--limit", type=_limit, default=20, metavar="N", help="how many events (1-500; default 20)"
    )
    history.add_argument(
        "--before", type=_seq, metavar="SEQ", help="page backwards from this sequence number"
    )
    history.set_defaults(func=client_command(show_history, keystore=True))

    tail = subparsers.add_parser(
        "tail",
        parents=[common],
        help="follow a room live",
        description="Print a room's new events as they arrive until interrupted. Survives "
        "server restarts and network loss: it reconnects and resumes with nothing missed or "
        "repeated. With --json, one JSON object per line.",
    )
    tail.add_argument("room", metavar="ROOM", help=ROOM_HELP)
    tail.add_argument(
        "--since",
        type=_seq,
        metavar="SEQ",
        help="start after this sequence number instead of after the latest event",
    )
    tail.set_defaults(func=client_command(tail_room, keystore=True))


def _body(args: argparse.Namespace) -> bytes:
    if args.file is not None:
        if args.text is not None:
            raise UsageError("give TEXT or --file, not both")
        return Path(args.file).read_bytes()
    if args.text is None:
        raise UsageError("give TEXT, '-' for stdin, or --file PATH")
    if args.text == "-":
        return sys.stdin.buffer.read()
    return str(args.text).encode("utf-8")


async def send_message(ctx: Context) -> None:
    body = _body(ctx.args)
    room_id = await ctx.room_id(ctx.args.room)
    sent = await (await ctx.crypto()).send(room_id, body)
    emit(ctx.json, sent_document(sent), f"sent {sent.event_id} (seq {sent.seq})")


def _print_event(ctx: Context, event: Event) -> None:
    emit(ctx.json, event_document(event), event_line(event))


def _shown(event: Event) -> bool:
    # Rooms carry MLS commits among the messages; they decrypt to nothing to show.
    return event.kind is not EventKind.MESSAGE or bool(event.body)


async def _caught_up(ctx: Context, room_id: str) -> None:
    """Process the room's commits in order first: a page or a live event may start after them."""
    await (await ctx.crypto()).catch_up(room_id)


async def show_history(ctx: Context) -> None:
    room = await ctx.room(ctx.args.room)
    await _caught_up(ctx, room.room_id)
    before = ctx.args.before if ctx.args.before is not None else room.last_seq + 1
    page = await ctx.client.history(room.room_id, before=before, limit=ctx.args.limit)
    shown = [e for e in page.events if _shown(e)]
    if ctx.json:
        events = [event_document(e) for e in shown]
        emit(True, {"room_id": room.room_id, "events": events, "prev": page.cursor}, "")
        return
    for event in shown:
        _print_event(ctx, event)


async def tail_room(ctx: Context) -> None:
    room = await ctx.room(ctx.args.room)
    start = ctx.args.since if ctx.args.since is not None else room.last_seq
    await _caught_up(ctx, room.room_id)
    async for item in ctx.client.events(since={room.room_id: start}):
        if isinstance(item, Event) and item.room_id == room.room_id and _shown(item):
            _print_event(ctx, item)
