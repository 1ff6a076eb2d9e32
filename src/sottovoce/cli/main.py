"""The ``sotto`` command: client commands for people and scripts, plus ``serve`` and ``admin``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sottovoce.cli import account, admin, e2ee, link, messages, rooms, serve
from sottovoce.cli.encryption import KEY_FILE_HELP
from sottovoce.cli.exitcodes import EPILOG


def _global_options(parser: argparse.ArgumentParser, *, default: object) -> None:
    """The options of every client command. The top-level parser holds the real defaults; each
    subcommand repeats the options with ``SUPPRESS`` so they may come before or after it."""

    def value(real: object) -> object:
        return real if default is None else default

    parser.add_argument(
        "--server",
        metavar="URL",
        default=value(None),
        help="server base URL (env SOTTO_SERVER; default: the profile's last server, "
        "else http://127.0.0.1:8000)",
    )
    parser.add_argument(
        "--profile",
        metavar="NAME",
        default=value(None),
        help="keep several accounts apart on one machine (env SOTTO_PROFILE; default "
        "'default'); sessions live in $SOTTO_CONFIG_DIR or the user config directory",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=value(False),
        help="machine-readable output: one JSON document (one object per line for tail); "
        'errors go to stderr as {"error": {"code", "message"}}',
    )
    parser.add_argument(
        "--no-passphrase",
        dest="no_passphrase",
        action="store_true",
        default=value(False),
        help=KEY_FILE_HELP,
    )
    parser.add_argument(
        "--password-stdin",
        dest="password_stdin",
        action="store_true",
        default=value(False),
        help="read the password from the first line of stdin instead of prompting",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sotto",
        description="Sottovoce: self-hosted real-time chat with end-to-end encryption.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, default=None)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS)
    subparsers = parser.add_subparsers(metavar="COMMAND", required=True)
    account.register(subparsers, common)
    rooms.register(subparsers, common)
    messages.register(subparsers, common)
    e2ee.register(subparsers, common)
    link.register(subparsers, common)
    serve.register(subparsers)
    admin.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code
