"""``create_app(config, store)``: the whole node as one aiohttp application."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from sottovoce.bus.base import Bus
from sottovoce.bus.local import LocalBus
from sottovoce.core.auth import AccessTokens
from sottovoce.core.config import Config
from sottovoce.server.accounts import Accounts
from sottovoce.server.delivery import GroupInfoApi
from sottovoce.server.gateway import Gateway
from sottovoce.server.http_api import MAX_REQUEST, PREFIX, HttpApi, RateLimits, json_response
from sottovoce.server.hub import Hub
from sottovoce.server.keys import Keys
from sottovoce.server.mailbox import Mailbox
from sottovoce.server.membership import MembershipCache
from sottovoce.server.metrics import Metrics
from sottovoce.server.middleware import UPGRADE_ROUTE, errors, per_ip_limit, security_headers
from sottovoce.server.rooms import Rooms
from sottovoce.store.base import Store

GATEWAY_KEY = web.AppKey("gateway", Gateway)
METRICS_KEY = web.AppKey("metrics", Metrics)


def create_app(config: Config, store: Store, bus: Bus | None = None) -> web.Application:
    """Wire the services to the store and bus; the caller owns (and closes) ``store``."""
    if config.jwt_secret is None:
        raise ValueError("create_app needs config.jwt_secret (see ensure_jwt_secret)")
    bus = bus or LocalBus()
    tokens = AccessTokens(config.jwt_secret, config.access_token_ttl)
    members = MembershipCache(store)
    hub = Hub()
    metrics = Metrics()
    for subscriber in (members.on_notification, hub.on_notification, metrics.on_notification):
        bus.subscribe(subscriber)
    accounts = Accounts(
        store,
        bus,
        tokens,
        server_name=config.server_name,
        registration=config.registration,
        refresh_ttl=config.refresh_token_ttl,
    )
    rooms = Rooms(
        store, bus, members, server_name=config.server_name, require_mls=config.require_mls
    )
    mailbox = Mailbox(store, bus)
    limits = RateLimits.create(config.http_rate_per_second, config.auth_rate_per_minute)
    api = HttpApi(accounts, rooms, mailbox, Keys(store), limits)
    gateway = Gateway(
        store,
        bus,
        hub,
        accounts,
        rooms,
        mailbox,
        metrics,
        frame_rate=config.ws_frame_rate_per_second,
        heartbeat=config.ws_heartbeat_seconds,
    )

    app = web.Application(
        client_max_size=MAX_REQUEST, middlewares=[errors, per_ip_limit(limits.per_ip)]
    )
    app[GATEWAY_KEY] = gateway
    app[METRICS_KEY] = metrics
    app.router.add_routes(api.routes())
    app.router.add_routes(GroupInfoApi(accounts, rooms, store, limits).routes())
    app.router.add_get(f"{PREFIX}/ws", gateway.handle, name=UPGRADE_ROUTE)

    async def healthz(request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        try:
            await store.ping()
        except Exception:
            return json_response({"status": "database unreachable"}, status=503)
        return json_response({"status": "ok"})

    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
    app.on_response_prepare.append(security_headers)

    async def close_sockets(app: web.Application) -> None:
        await gateway.shutdown()

    async def sweeps(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(gateway.watch_revocations()),
            asyncio.create_task(gateway.watch_heartbeats()),
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_shutdown.append(close_sockets)
    app.cleanup_ctx.append(sweeps)
    return app
