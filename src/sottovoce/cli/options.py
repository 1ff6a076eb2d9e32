"""Configuration options shared by ``sotto serve`` and ``sotto admin``.

Every option defaults to None so that ``load_config`` can tell "not given" from a value and apply
the flag > environment > file > default order.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from sottovoce.core.config import Config, ConfigError, resolve_config

if TYPE_CHECKING:
    # Subscriptable only for type checkers: argparse's class is not generic at run time.
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML configuration file (env SOTTO_CONFIG); flags and SOTTO_* variables override it",
    )
    parser.add_argument(
        "--data-dir",
        dest="data_dir",
        metavar="DIR",
        help="directory for the SQLite database and the generated JWT key "
        "(env SOTTO_DATA_DIR; default ./data)",
    )
    parser.add_argument(
        "--database-url",
        dest="database_url",
        metavar="URL",
        help="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db (env SOTTO_DATABASE_URL; "
        "default sqlite+aiosqlite:///<data-dir>/sottovoce.db)",
    )
    parser.add_argument(
        "--server-name",
        dest="server_name",
        metavar="NAME",
        help="the :server part of every user and room id; choose it before the first user "
        "registers (env SOTTO_SERVER_NAME; default localhost)",
    )


def config_from(args: argparse.Namespace, command: str) -> Config | None:
    """The resolved configuration, or None after printing why it is unusable."""
    try:
        return resolve_config(vars(args), os.environ)
    except ConfigError as exc:
        print(f"sotto {command}: {exc}", file=sys.stderr)
        return None
