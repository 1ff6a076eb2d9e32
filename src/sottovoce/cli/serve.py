"""``sotto serve``: run one server node until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from sottovoce.cli.options import add_database_options, config_from
from sottovoce.core.config import Config, ConfigError, ensure_jwt_secret
from sottovoce.server.app import create_app
from sottovoce.server.logs import configure_logging
from sottovoce.store import open_store

if TYPE_CHECKING:
    from sottovoce.cli.options import SubParsers

log = structlog.get_logger("sottovoce.serve")
# Process managers (and the test harness) wait about 10 s before SIGKILL.
SHUTDOWN_TIMEOUT = 6.0


def register(subparsers: SubParsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the Sottovoce server",
        description="Run one Sottovoce server node: HTTP API and WebSocket gateway on one port. "
        "Each option can also come from a SOTTO_* environment variable or the TOML file given "
        "by --config; flags win over the environment, which wins over the file.",
    )
    parser.add_argument("--host", help="listen address (env SOTTO_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="listen port (env SOTTO_PORT; default 8000)")
    add_database_options(parser)
    parser.add_argument(
        "--registration",
        choices=("open", "invite", "closed"),
        help="who may create accounts: anyone, holders of an invite code from "
        "'sotto admin invite-code', or nobody (env SOTTO_REGISTRATION; default open)",
    )
    parser.add_argument(
        "--jwt-secret",
        dest="jwt_secret",
        metavar="SECRET",
        help="secret that signs access tokens, the same on every node (env SOTTO_JWT_SECRET; "
        "default: generated once into <data-dir>/jwt.key, mode 0600)",
    )
    parser.add_argument(
        "--access-token-ttl",
        dest="access_token_ttl",
        type=int,
        metavar="SECONDS",
        help="lifetime of access tokens (env SOTTO_ACCESS_TOKEN_TTL; default 900)",
    )
    parser.add_argument(
        "--refresh-token-ttl",
        dest="refresh_token_ttl",
        type=int,
        metavar="SECONDS",
        help="lifetime of refresh tokens (env SOTTO_REFRESH_TOKEN_TTL; default 2592000, 30 days)",
    )
    parser.add_argument(
        "--log-level",
        dest="log_level",
        choices=("debug", "info", "warning", "error"),
        help="JSON log lines on stderr at this level and above (env SOTTO_LOG_LEVEL; default info)",
    )
    parser.add_argument(
        "--redis-url",
        dest="redis_url",
        metavar="URL",
        help="Redis for fan-out between nodes (env SOTTO_REDIS_URL); accepted, not used yet",
    )
    parser.add_argument(
        "--auth-rate-limit",
        dest="auth_rate_per_minute",
        type=int,
        metavar="N",
        help="register and login requests per minute per IP address "
        "(env SOTTO_AUTH_RATE_PER_MINUTE; default 10)",
    )
    parser.add_argument(
        "--http-rate-limit",
        dest="http_rate_per_second",
        type=int,
        metavar="N",
        help="HTTP requests per second per user and per IP address, with bursts of three times "
        "that (env SOTTO_HTTP_RATE_PER_SECOND; default 20)",
    )
    parser.add_argument(
        "--ws-rate-limit",
        dest="ws_frame_rate_per_second",
        type=int,
        metavar="N",
        help="WebSocket frames per second per connection, with bursts of twice that "
        "(env SOTTO_WS_FRAME_RATE_PER_SECOND; default 64)",
    )
    parser.add_argument(
        "--ws-heartbeat",
        dest="ws_heartbeat_seconds",
        type=int,
        metavar="SECONDS",
        help="ping a WebSocket silent this long, close it if still silent half of it later "
        "(env SOTTO_WS_HEARTBEAT_SECONDS; default 30)",
    )
    parser.add_argument(
        "--allow-plaintext",
        dest="allow_plaintext",
        action="store_true",
        default=None,
        help="for transport tests and benchmarks only: store message bodies that are not MLS "
        "messages, unread, instead of refusing them (env SOTTO_ALLOW_PLAINTEXT=1; default off: "
        "the server accepts only MLS messages and never holds what people write)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args, "serve")
    if config is None:
        return 2
    try:
        config = ensure_jwt_secret(config)
    except (ConfigError, OSError) as exc:
        print(f"sotto serve: cannot set up the JWT key: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    try:
        return _event_loop_runner()(serve(config))
    except OSError as exc:
        # Port taken, address not local, database unreachable: say so without a traceback.
        log.error("cannot_start", error=str(exc))
        print(f"sotto serve: {exc}", file=sys.stderr)
        return 1


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, int]], int]:
    """uvloop when it is installed (the ``bench`` extra): less loop overhead per frame."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


LISTEN_BACKLOG = 4096


async def serve(config: Config) -> int:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(config.database_url)
    try:
        runner = web.AppRunner(
            create_app(config, store), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            # aiohttp's default accept queue (128) overflows when thousands of clients
            # reconnect at once, and each dropped SYN costs its client a 1-3-7 s retry; the
            # kernel caps this at net.core.somaxconn.
            site = web.TCPSite(runner, config.host, config.port, backlog=LISTEN_BACKLOG)
            await site.start()
            # What startup built (modules, the app, the store) lives as long as the process.
            # Left to the collector, each full collection walks those ~100,000 objects again:
            # under load one came every second or two and held the event loop 50-80 ms, which
            # was most of the p99 of fan-out (docs/performance.md, fifth pass).
            gc.freeze()
            log.info("listening", host=config.host, port=config.port, server=config.server_name)
            if config.allow_plaintext:
                log.warning(
                    "plaintext_allowed",
                    detail="message bodies that are not MLS messages are stored as sent; "
                    "for transport tests and benchmarks only",
                )
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log.info("shutting_down")
        finally:
            # Runs the app's on_shutdown hooks, which close WebSockets with 1001.
            await runner.cleanup()
    finally:
        await store.close()
    return 0
