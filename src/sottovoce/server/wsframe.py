"""Sans-I/O encoding of the server's WebSocket text frames (RFC 6455 section 5.2).

A server's frames are unmasked, and the gateway's are neither compressed nor fragmented, so the
bytes of a frame depend on its payload alone: a fan-out encodes them once and writes the very
same bytes to every recipient's transport.
"""

from __future__ import annotations

from struct import Struct

_FIN_TEXT = 0x81
_LEN16 = Struct("!BBH").pack
_LEN64 = Struct("!BBQ").pack


def text_frame(payload: bytes) -> bytes:
    """The complete frame (header and payload) carrying ``payload``, UTF-8 text, as one message."""
    size = len(payload)
    if size < 126:
        return bytes((_FIN_TEXT, size)) + payload
    if size < 65536:
        return _LEN16(_FIN_TEXT, 126, size) + payload
    return _LEN64(_FIN_TEXT, 127, size) + payload
