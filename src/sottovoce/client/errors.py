"""Wire error codes back to the exceptions of core/errors.py, and the errors only clients raise."""

from __future__ import annotations

from collections.abc import Mapping

from sottovoce.core import errors
from sottovoce.core.errors import SottoError


class ServerUnreachable(SottoError):
    """No answer from the server: connection refused, reset or timed out. Nothing is known to
    have happened on the server, so an idempotent request may be tried again."""

    code = "server_unreachable"
    status = 0


class ProtocolViolation(SottoError):
    """The server's answer does not follow docs/protocol.md; retrying will not help."""

    code = "protocol_violation"
    status = 0


def _wire_classes() -> dict[str, type[SottoError]]:
    found: dict[str, type[SottoError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, SottoError) and value is not SottoError:
            found[value.code] = value
    return found


_BY_CODE = _wire_classes()


def error_from_wire(payload: Mapping[str, object], status: int = 0) -> SottoError:
    """The exception for an ``{"code", "message", ...}`` object; an unknown code keeps its text."""
    code = payload.get("code")
    message = payload.get("message")
    text = message if isinstance(message, str) else f"server error (HTTP {status})"
    extra = {k: v for k, v in payload.items() if k not in ("code", "message", "id", "type")}
    cls = _BY_CODE.get(code) if isinstance(code, str) else None
    if cls is None:
        return SottoError(f"{text} (code {code!r})" if code else text, **extra)
    return cls(text, **extra)
