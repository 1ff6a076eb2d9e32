"""Passwords (argon2id), access tokens (JWT HS256) and refresh tokens (opaque, stored hashed).

Pure apart from argon2's deliberate CPU cost: time is always passed in, in seconds.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jwt.algorithms import HMACAlgorithm

from sottovoce.core.errors import TokenExpired, Unauthenticated, WeakPassword

MIN_PASSWORD = 8
MAX_PASSWORD = 1024
_ALGORITHM = "HS256"
_CLAIMS = ("sub", "did", "iat", "exp", "jti")

_hasher = PasswordHasher()
# Verifying against this when the user is unknown keeps login time independent of whether the
# account exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def check_password_strength(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise WeakPassword(f"passwords must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the hash exists; never raises for a wrong password."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    device_id: str
    issued_at: int
    expires_at: int
    token_id: str


class _PreparedHMAC(HMACAlgorithm):
    """HS256 with the server's secret checked and converted once.

    PyJWT prepares the key on every signature, and for HMAC that means parsing it as JSON and
    trying it as a PEM, SSH and DER key to refuse asymmetric keys: 3.5-4.5 % of a reconnect
    storm's CPU (docs/performance.md). The secret is the same for every token, so it is prepared
    once here with the same checks; any other key still takes PyJWT's own path.
    """

    def __init__(self, secret: str) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._secret = secret
        self._prepared = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared if key is self._secret else super().prepare_key(key)


class AccessTokens:
    """Issues and checks HS256 access tokens with one shared secret."""

    def __init__(self, secret: str, ttl: int) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self.ttl = ttl
        # An instance of its own, so that the prepared key is not registered process-wide.
        self._jwt = jwt.PyJWT()
        self._jwt._jws.unregister_algorithm(_ALGORITHM)
        self._jwt._jws.register_algorithm(_ALGORITHM, _PreparedHMAC(secret))

    def issue(self, user_id: str, device_id: str, now: int) -> str:
        claims = {
            "sub": user_id,
            "did": device_id,
            "iat": now,
            "exp": now + self.ttl,
            "jti": secrets.token_urlsafe(12),
        }
        return self._jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str, now: int) -> AccessClaims:
        """Raise ``Unauthenticated`` for anything but a well-signed token, ``TokenExpired`` late."""
        try:
            # Expiry is checked below against the caller's clock, so that this stays pure.
            claims = self._jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"verify_exp": False, "verify_iat": False, "require": list(_CLAIMS)},
            )
        except jwt.PyJWTError:
            raise Unauthenticated(
                "the access token is malformed or not signed by this server"
            ) from None
        sub, did, iat, exp, jti = (claims[name] for name in _CLAIMS)
        if not (
            isinstance(sub, str)
            and isinstance(did, str)
            and isinstance(jti, str)
            and isinstance(iat, int)
            and isinstance(exp, int)
        ):
            raise Unauthenticated("the access token has malformed claims")
        if now >= exp:
            raise TokenExpired("the access token has expired: refresh it")
        return AccessClaims(user_id=sub, device_id=did, issued_at=iat, expires_at=exp, token_id=jti)


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh opaque token and the SHA-256 digest that is all the database keeps."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_family_id() -> str:
    return secrets.token_urlsafe(16)
