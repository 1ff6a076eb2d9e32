from __future__ import annotations

import jwt
import pytest

from sottovoce.core.auth import (
    AccessTokens,
    check_password_strength,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from sottovoce.core.errors import TokenExpired, Unauthenticated, WeakPassword

SECRET = "s" * 48


def test_password_hash_is_argon2id_and_verifies_only_the_right_password() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsf")


def test_unknown_user_never_verifies() -> None:
    assert not verify_password(None, "anything at all")


def test_garbage_hash_does_not_verify() -> None:
    assert not verify_password("not-a-hash", "password1")


@pytest.mark.parametrize("password", ["short", "x" * 1025, ""])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_password_strength(password)


def test_access_token_carries_user_device_and_expiry() -> None:
    tokens = AccessTokens(SECRET, ttl=900)
    claims = tokens.verify(tokens.issue("@a:localhost", "DEV", now=1000), now=1899)
    assert (claims.user_id, claims.device_id) == ("@a:localhost", "DEV")
    assert (claims.issued_at, claims.expires_at) == (1000, 1900)
    raw = jwt.decode(tokens.issue("@a:localhost", "DEV", 1000), options={"verify_signature": False})
    assert set(raw) == {"sub", "did", "iat", "exp", "jti"}


def test_access_token_expires_after_its_ttl() -> None:
    tokens = AccessTokens(SECRET, ttl=900)
    with pytest.raises(TokenExpired):
        tokens.verify(tokens.issue("@a:localhost", "DEV", now=1000), now=1900)


def test_token_signed_with_another_secret_is_refused() -> None:
    other = AccessTokens("o" * 48, ttl=900).issue("@a:localhost", "DEV", now=1000)
    with pytest.raises(Unauthenticated):
        AccessTokens(SECRET, ttl=900).verify(other, now=1000)


def test_unsigned_token_is_refused() -> None:
    forged = jwt.encode(
        {"sub": "@a:localhost", "did": "D", "iat": 1, "exp": 10**10, "jti": "j"},
        key="",
        algorithm="none",
    )
    with pytest.raises(Unauthenticated):
        AccessTokens(SECRET, ttl=900).verify(forged, now=1000)


def test_token_missing_a_claim_is_refused() -> None:
    partial = jwt.encode({"sub": "@a:localhost", "exp": 10**10}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        AccessTokens(SECRET, ttl=900).verify(partial, now=1000)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        AccessTokens("short", ttl=900)


def test_refresh_tokens_are_unique_and_stored_only_as_their_hash() -> None:
    token, digest = new_refresh_token()
    other, _ = new_refresh_token()
    assert token != other
    assert digest == hash_refresh_token(token)
    assert len(digest) == 32
    assert token.encode() not in digest


def test_tokens_signed_by_plain_pyjwt_with_the_secret_verify_and_are_verified_by_it() -> None:
    # The key is prepared once per AccessTokens: the signature must stay PyJWT's own HS256.
    tokens = AccessTokens(SECRET, ttl=900)
    claims = {"sub": "@a:localhost", "did": "D", "iat": 1000, "exp": 1900, "jti": "j"}
    assert tokens.verify(jwt.encode(claims, SECRET, algorithm="HS256"), now=1000).device_id == "D"
    issued = tokens.issue("@a:localhost", "D", now=1000)
    assert jwt.decode(issued, SECRET, algorithms=["HS256"], options={"verify_exp": False})


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_of_another_hmac_algorithm_with_the_secret_is_refused(algorithm: str) -> None:
    claims = {"sub": "@a:localhost", "did": "D", "iat": 1, "exp": 10**10, "jti": "j"}
    secret = "s" * 64  # long enough for HS512 without PyJWT's warning
    with pytest.raises(Unauthenticated):
        AccessTokens(secret, ttl=900).verify(jwt.encode(claims, secret, algorithm), now=1000)


def test_an_asymmetric_key_is_still_refused_as_a_secret() -> None:
    pem = "-----BEGIN PUBLIC KEY-----\n" + "A" * 64 + "\n-----END PUBLIC KEY-----\n"
    with pytest.raises(jwt.InvalidKeyError):
        AccessTokens(pem, ttl=900)
