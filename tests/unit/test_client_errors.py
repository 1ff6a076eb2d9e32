"""The SDK raises the exception of core/errors.py that the wire code names."""

from __future__ import annotations

import pytest

from sottovoce.client.errors import error_from_wire
from sottovoce.core import errors


@pytest.mark.parametrize(
    "cls",
    [
        errors.NotMember,
        errors.TokenExpired,
        errors.RateLimited,
        errors.DeviceRevoked,
        errors.InvalidCredentials,
        errors.NotFound,
    ],
)
def test_each_wire_code_becomes_its_own_exception(cls: type[errors.SottoError]) -> None:
    error = error_from_wire({"code": cls.code, "message": "why"})
    assert type(error) is cls
    assert error.message == "why"


def test_extra_fields_such_as_retry_after_are_kept() -> None:
    error = error_from_wire({"code": "rate_limited", "message": "slow", "retry_after": 0.5})
    assert error.extra == {"retry_after": 0.5}


def test_an_unknown_code_is_a_plain_sotto_error_that_names_the_code() -> None:
    error = error_from_wire({"code": "from_the_future", "message": "new"}, 418)
    assert type(error) is errors.SottoError
    assert "from_the_future" in error.message
