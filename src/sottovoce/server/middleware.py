"""HTTP middlewares: error mapping to the wire's error objects, per-IP limits, security headers."""

from __future__ import annotations

import math
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from sottovoce.core.errors import BadRequest, NotFound, RateLimited, SottoError, TooLarge
from sottovoce.core.ratelimit import BucketMap
from sottovoce.server.http_api import PREFIX, Handler, client_ip, enforce

log = structlog.get_logger("sottovoce.http")

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
    response = web.json_response({"error": error.to_dict()}, status=error.status)
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


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    try:
        response = await handler(request)
    except SottoError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http(exc))
    except Exception:
        log.exception("request_failed", method=request.method, path=request.path)
        response = error_response(SottoError("internal error; nothing was stored"))
    log.debug(
        "request",
        method=request.method,
        path=request.path,
        status=response.status,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response


def per_ip_limit(buckets: BucketMap) -> Middleware:
    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(PREFIX):
            enforce(buckets, client_ip(request))
        return await handler(request)

    return limit


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if isinstance(response, web.WebSocketResponse):
        # A 101 upgrade has no document to render, frame or cache, and these headers would be
        # kept for the connection's whole life (about 1 KiB of each idle connection).
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
