"""The one error hierarchy of the server and SDK; codes are the wire codes of docs/protocol.md."""

from __future__ import annotations

from typing import ClassVar


class SottoError(Exception):
    """An error a client can act on: a stable ``code``, an HTTP status and a human message."""

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, **self.extra}


class BadRequest(SottoError):
    """Malformed or invalid request."""

    code = "bad_request"
    status = 400


class TooLarge(SottoError):
    """Body or frame over its size limit."""

    code = "too_large"
    status = 413


class InvalidUsername(SottoError):
    """Bad localpart."""

    code = "invalid_username"
    status = 400


class WeakPassword(SottoError):
    """Password too short or too long."""

    code = "weak_password"
    status = 400


class UserExists(SottoError):
    """Username taken."""

    code = "user_exists"
    status = 409


class RegistrationClosed(SottoError):
    """No sign-ups."""

    code = "registration_closed"
    status = 403


class InvalidInviteCode(SottoError):
    """Bad invite code."""

    code = "invalid_invite_code"
    status = 403


class InvalidCredentials(SottoError):
    """Bad login."""

    code = "invalid_credentials"
    status = 401


class UserDisabled(SottoError):
    """Account disabled."""

    code = "user_disabled"
    status = 403


class Unauthenticated(SottoError):
    """No valid access token."""

    code = "unauthenticated"
    status = 401


class TokenExpired(SottoError):
    """Access token expired."""

    code = "token_expired"
    status = 401


class InvalidRefreshToken(SottoError):
    """Unknown or revoked refresh token."""

    code = "invalid_refresh_token"
    status = 401


class RefreshTokenReused(SottoError):
    """Rotated refresh token presented again."""

    code = "refresh_token_reused"
    status = 401


class DeviceRevoked(SottoError):
    """Device logged out or revoked."""

    code = "device_revoked"
    status = 401


class NotFound(SottoError):
    """No such resource."""

    code = "not_found"
    status = 404


class NotMember(SottoError):
    """Caller is not a joined member."""

    code = "not_member"
    status = 403


class Forbidden(SottoError):
    """Role does not allow this action."""

    code = "forbidden"
    status = 403


class AlreadyMember(SottoError):
    """Already joined or invited."""

    code = "already_member"
    status = 409


class NotInvited(SottoError):
    """Joining without an invitation."""

    code = "not_invited"
    status = 403


class RateLimited(SottoError):
    """Too many requests."""

    code = "rate_limited"
    status = 429


class UnknownFrame(SottoError):
    """Unknown WebSocket frame type."""

    code = "unknown_frame"
    status = 400


class StaleEpoch(SottoError):
    """An MLS message for an epoch the room no longer accepts; ``epoch`` is the current one."""

    code = "stale_epoch"
    status = 409


class ReplayedMessage(SottoError):
    """An MLS message whose exact bytes the room already holds under another client_id."""

    code = "replayed_message"
    status = 409
