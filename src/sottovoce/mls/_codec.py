"""TLS presentation language (RFC 8446 section 3) as profiled by RFC 9420 section 2.1.

Vectors carry a variable-length-integer length prefix (RFC 9420 section 2.1.2). Every read is
bounds-checked and raises ``DecodeError``; nothing else escapes from decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import IntEnum
from typing import Protocol, TypeVar

from sottovoce.mls.errors import DecodeError

T = TypeVar("T")
E = TypeVar("E", bound=IntEnum)

_VARINT_MAX = (1 << 30) - 1


def encode_varint(value: int) -> bytes:
    """Minimal-length encoding; values of 2^30 and above are not representable in MLS."""
    if value < 0 or value > _VARINT_MAX:
        raise ValueError(f"varint out of range: {value}")
    if value < 1 << 6:
        return value.to_bytes(1, "big")
    if value < 1 << 14:
        return (value | 0x4000).to_bytes(2, "big")
    return (value | 0x8000_0000).to_bytes(4, "big")


class Writer:
    """Accumulates an encoding. Methods return ``self`` so short structs read as one line."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def u8(self, value: int) -> Writer:
        self._buf += value.to_bytes(1, "big")
        return self

    def u16(self, value: int) -> Writer:
        self._buf += value.to_bytes(2, "big")
        return self

    def u32(self, value: int) -> Writer:
        self._buf += value.to_bytes(4, "big")
        return self

    def u64(self, value: int) -> Writer:
        self._buf += value.to_bytes(8, "big")
        return self

    def raw(self, data: bytes) -> Writer:
        """Fixed-length bytes, no prefix."""
        self._buf += data
        return self

    def opaque(self, data: bytes) -> Writer:
        """``opaque field<V>``: varint length, then the bytes."""
        n = len(data)
        # Most fields are shorter than 64 bytes: their one-byte prefix is the length itself.
        self._buf += n.to_bytes(1, "big") if n < 1 << 6 else encode_varint(n)
        self._buf += data
        return self

    def vector(self, items: Iterable[T], write: Callable[[Writer, T], object]) -> Writer:
        """``T field<V>``: the items encoded back to back, prefixed with their total length."""
        inner = Writer()
        for item in items:
            write(inner, item)
        return self.opaque(bytes(inner._buf))

    def optional(self, item: T | None, write: Callable[[Writer, T], object]) -> Writer:
        """``optional<T>``: a presence byte, then the item."""
        if item is None:
            return self.u8(0)
        self.u8(1)
        write(self, item)
        return self

    def bytes(self) -> bytes:
        return bytes(self._buf)


class Reader:
    """Reads an encoding front to back; every read checks bounds."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        # Reads slice ``data``; a bytearray or memoryview would hand out mutable slices.
        self._data = bytes(data)
        self._pos = start
        self._end = len(data) if end is None else end

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    @property
    def position(self) -> int:
        return self._pos

    # The reads below inline their bounds check rather than share one helper: decoding a
    # message is dozens of them, and a Python call costs more than the read.

    def _take(self, n: int) -> bytes:
        pos = self._pos
        end = pos + n
        if n < 0 or end > self._end:
            raise DecodeError(f"truncated: need {n} bytes, {self._end - pos} left")
        self._pos = end
        return self._data[pos:end]

    def u8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise DecodeError(f"truncated: need 1 byte, {self._end - pos} left")
        self._pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        return int.from_bytes(self._take(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self._take(4), "big")

    def u64(self) -> int:
        return int.from_bytes(self._take(8), "big")

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def varint(self) -> int:
        first = self.u8()
        prefix = first >> 6
        if prefix == 0:
            return first
        if prefix == 1:
            value = ((first & 0x3F) << 8) | self.u8()
            if value < 1 << 6:
                raise DecodeError("varint not minimally encoded")
            return value
        if prefix == 2:
            value = ((first & 0x3F) << 24) | int.from_bytes(self._take(3), "big")
            if value < 1 << 14:
                raise DecodeError("varint not minimally encoded")
            return value
        raise DecodeError("invalid varint length prefix 0b11")

    def opaque(self) -> bytes:
        pos = self._pos
        if pos < self._end and self._data[pos] < 1 << 6:
            # One-byte length prefix, the common case.
            start = pos + 1
            end = start + self._data[pos]
            if end > self._end:
                raise DecodeError(f"truncated: need {end - start} bytes, {self._end - start} left")
            self._pos = end
            return self._data[start:end]
        return self._take(self.varint())

    def vector(self, read: Callable[[Reader], T]) -> list[T]:
        """Read a length-prefixed vector of items; the items must fill it exactly."""
        length = self.varint()
        if self._pos + length > self._end:
            raise DecodeError(f"vector of {length} bytes overruns its container")
        inner = Reader(self._data, self._pos, self._pos + length)
        items: list[T] = []
        while inner.remaining:
            items.append(read(inner))
        self._pos += length
        return items

    def optional(self, read: Callable[[Reader], T]) -> T | None:
        flag = self.u8()
        if flag == 0:
            return None
        if flag != 1:
            raise DecodeError(f"optional presence byte must be 0 or 1, got {flag}")
        return read(self)

    def done(self) -> None:
        """Raise unless every byte was consumed."""
        if self._pos != self._end:
            raise DecodeError(f"{self._end - self._pos} trailing bytes")


def read_enum(value: int, enum: type[E]) -> E:
    """``value`` as a member of ``enum``; enums leave out ``reserved(0)`` so it is rejected too."""
    try:
        return enum(value)
    except ValueError:
        raise DecodeError(f"{value} is not a valid {enum.__name__}") from None


def decode_all(data: bytes, read: Callable[[Reader], T]) -> T:
    """Decode exactly one value from ``data``; trailing bytes are an error."""
    reader = Reader(data)
    value = read(reader)
    reader.done()
    return value


class Encodable(Protocol):
    """A structure that writes its own TLS encoding."""

    def encode(self, w: Writer) -> None: ...


def serialize(value: Encodable) -> bytes:
    w = Writer()
    value.encode(w)
    return w.bytes()
