"""Exit statuses of the client commands: what failed, so that scripts can branch on it."""

from __future__ import annotations

from sottovoce.client.device_link import LinkTimeout
from sottovoce.client.e2ee import DeviceNotLinked
from sottovoce.client.e2ee_errors import KeySourceUnavailable, WrongStoreKey
from sottovoce.client.errors import ServerUnreachable
from sottovoce.core import errors

OK = 0
ERROR = 1
USAGE = 2
AUTH = 3
NOT_FOUND = 4
FORBIDDEN = 5
UNREACHABLE = 6
RATE_LIMITED = 7
KEYS = 8
INTERRUPTED = 130

EPILOG = """\
exit status:
  0  success
  1  any other error (rejected input, name taken, already a member, server fault)
  2  usage: bad arguments, or a room name that matches several rooms
  3  authentication: not signed in, wrong password, session expired or device revoked
  4  not found: no such room, user or device
  5  forbidden: not a member, not invited, role too low, registration closed
  6  server unreachable
  7  rate limited: try again later
  8  encryption keys: no key source for the keystore (no terminal to ask a passphrase, no
     SOTTO_PASSPHRASE, no keyring, no --no-passphrase), wrong passphrase, or this device is
     not linked to your other devices yet ('sotto link')
  130 interrupted (Ctrl-C)
"""

_BY_CLASS: dict[type[errors.SottoError], int] = {
    ServerUnreachable: UNREACHABLE,
    errors.RateLimited: RATE_LIMITED,
    errors.NotFound: NOT_FOUND,
    errors.InvalidCredentials: AUTH,
    errors.Unauthenticated: AUTH,
    errors.TokenExpired: AUTH,
    errors.InvalidRefreshToken: AUTH,
    errors.RefreshTokenReused: AUTH,
    errors.DeviceRevoked: AUTH,
    errors.UserDisabled: AUTH,
    errors.Forbidden: FORBIDDEN,
    errors.NotMember: FORBIDDEN,
    errors.NotInvited: FORBIDDEN,
    errors.RegistrationClosed: FORBIDDEN,
    errors.InvalidInviteCode: FORBIDDEN,
    KeySourceUnavailable: KEYS,
    WrongStoreKey: KEYS,
    DeviceNotLinked: KEYS,
    LinkTimeout: KEYS,
}


def exit_code(error: errors.SottoError) -> int:
    return _BY_CLASS.get(type(error), ERROR)
