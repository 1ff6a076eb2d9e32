from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.client.e2ee_errors import PaddingError
from sottovoce.client.padding import MIN_BUCKET, pad, padded_size, unpad


@given(st.binary(max_size=5000))
def test_unpad_returns_exactly_what_was_padded(data: bytes) -> None:
    assert unpad(pad(data)) == data


@given(st.integers(0, 1 << 24))
def test_a_padded_size_fits_the_data_and_its_marker(length: int) -> None:
    assert padded_size(length) >= length + 1


def test_every_short_message_has_the_same_size() -> None:
    assert {len(pad(b"x" * n)) for n in range(MIN_BUCKET)} == {MIN_BUCKET}
    assert len(pad(b"x" * MIN_BUCKET)) > MIN_BUCKET


@given(st.integers(0, 1 << 24), st.integers(0, 1 << 24))
def test_a_longer_message_never_pads_shorter(a: int, b: int) -> None:
    shorter, longer = sorted((a, b))
    assert padded_size(shorter) <= padded_size(longer)


@given(st.integers(MIN_BUCKET, 1 << 24))
def test_padding_costs_under_twelve_percent_above_the_minimum_bucket(length: int) -> None:
    assert padded_size(length) - (length + 1) < 0.12 * (length + 1)


def test_few_distinct_sizes_hide_lengths() -> None:
    # Padmé keeps 16 sizes per doubling from 256 bytes to 64 KiB: 8 doublings, 129 sizes.
    assert len({padded_size(n) for n in range(65536)}) == 129


@given(st.binary(max_size=600), st.data())
def test_anything_but_the_exact_padding_is_refused(data: bytes, draw: st.DataObject) -> None:
    padded = pad(data)
    cut = draw.draw(st.integers(0, len(padded) - 1))
    extra = draw.draw(st.binary(min_size=1, max_size=300))
    for damaged in (padded[:cut], padded + extra, padded + b"\x00"):
        with pytest.raises(PaddingError):
            unpad(damaged)


@pytest.mark.parametrize("damaged", [b"", bytes(MIN_BUCKET), b"x" * MIN_BUCKET])
def test_plaintexts_without_a_marker_are_refused(damaged: bytes) -> None:
    with pytest.raises(PaddingError):
        unpad(damaged)


def test_trailing_zeros_in_the_message_survive() -> None:
    assert unpad(pad(b"abc\x00\x00\x80\x00")) == b"abc\x00\x00\x80\x00"
