"""HTTP middlewares: error mapping to the wire's error objects, per-IP limits, security headers."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from sottovoce.core.errors import BadRequest, NotFound, RateLimited, SottoError, TooLarge
from sottovoce.core.ratelimit import BucketMap
from sottovoce.server.http_api import PREFIX, Handler, client_ip, enforce, json_response

log = structlog.get_logger("sottovoce.http")

# The name of the WebSocket route, which answers the errors of its upgrade itself.
UPGRADE_ROUTE = "websocket"

# The API serves JSON only; nothing it returns should ever be rendered, framed or cached.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def error_response(error: SottoError) -> web.Response:
    response = json_response({"error": error.to_dict()}, status=error.status)
    if isinstance(error, RateLimited):
        retry = error.extra.get("retry_after")
        if isinstance(retry, int | float):
            response.headers["Retry-After"] = str(max(1, math.ceil(retry)))
    return response


def _from_http(exc: web.HTTPException) -> SottoError:
    if exc.status == 404:
        return NotFound("no such route")
    if exc.status == 405:
        return BadRequest(f"method not allowed here; allowed: {exc.headers.get('Allow', '')}")
    if exc.status == 413:
        return TooLarge("the request body is over its size limit")
    if exc.status >= 500:
        return SottoError("internal error")
    return BadRequest(exc.reason)


def refusal(request: web.Request, exc: Exception) -> web.Response:
    """The answer to a request whose handling raised ``exc``; called from an ``except`` block, so
    the log has its trace."""
    if isinstance(exc, SottoError):
        return error_response(exc)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return error_response(_from_http(exc))
    log.exception("request_failed", method=request.method, path=request.path)
    return error_response(SottoError("internal error; nothing was stored"))


@web.middleware
def errors(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    if request.match_info.route.name == UPGRADE_ROUTE:
        # A WebSocket's handler runs as long as its connection: a frame of this middleware would
        # be kept as long, in every idle connection. So the handler answers what goes wrong
        # before its upgrade itself (with ``refusal``), and only the middlewares' own refusals,
        # raised while it is called, are answered here.
        try:
            return handler(request)
        except Exception as exc:
            return _ready(refusal(request, exc))
    return _answered(request, handler)


async def _answered(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except Exception as exc:
        response = refusal(request, exc)
    log.debug(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


async def _ready(response: web.StreamResponse) -> web.StreamResponse:
    return response


def per_ip_limit(buckets: BucketMap) -> Middleware:
    # Not a coroutine: it checks before the handler runs and keeps no frame of its own while the
    # handler runs (for a WebSocket, the connection's whole life).
    @web.middleware
    def limit(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        if request.path.startswith(PREFIX):
            enforce(buckets, client_ip(request))
        return handler(request)

    return limit


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        # A 101 upgrade has no document to render, frame or cache, and these headers would be
        # kept for the connection's whole life (about 1 KiB of each idle connection).
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
