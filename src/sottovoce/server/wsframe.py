"""Sans-I/O encoding of the server's WebSocket text frames (RFC 6455 section 5.2).

A server's frames are unmasked, and the gateway's are neither compressed nor fragmented, so the
bytes of a frame depend on its payload alone: a fan-out encodes them once and writes the very
same bytes to every recipient's transport.
"""

from __future__ import annotations

from struct import Struct

_FIN_TEXT = 0x81
_FIN_PING = 0x89
_FIN_PONG = 0x8A
# Control frames carry at most 125 bytes (RFC 6455 section 5.5), so one length byte.
MAX_CONTROL_PAYLOAD = 125
_LEN16 = Struct("!BBH").pack
_LEN64 = Struct("!BBQ").pack


def control_ping() -> bytes:
    """A PING without payload: the peer answers it with a PONG."""
    return bytes((_FIN_PING, 0))


def control_pong(payload: bytes) -> bytes:
    """The PONG answering a PING that carried ``payload`` (at most 125 bytes)."""
    if len(payload) > MAX_CONTROL_PAYLOAD:
        raise ValueError("a control frame carries at most 125 bytes")
    return bytes((_FIN_PONG, len(payload))) + payload


def text_frame(payload: bytes) -> bytes:
    """The complete frame (header and payload) carrying ``payload``, UTF-8 text, as one message."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size < 65536:
        return _LEN16(_FIN_TEXT, 126, size) + payload
    return _LEN64(_FIN_TEXT, 127, size) + payload
