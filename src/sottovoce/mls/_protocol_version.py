"""The protocol version tag (RFC 9420 section 6), on its own so every struct can import it."""

from __future__ import annotations

from enum import IntEnum


class ProtocolVersion(IntEnum):
    MLS10 = 1
