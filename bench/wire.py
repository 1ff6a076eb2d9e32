"""What the load generator puts on the wire and reads back, with no I/O.

Every benchmark message body carries its own measurement header, so that a receiver can compute
send-to-delivery latency and count losses without any shared state with the sender:

    magic "SVB1" | step u16 | sender u16 | counter u32 | sent_ns u64 | padding

``sent_ns`` is ``time.monotonic_ns()`` of the generator process that both sends and receives.
The body is then base64-encoded, as the Sottovoce protocol requires; the baseline relay forwards
the very same ``send`` frame, so both targets move frames of the same size and the receiver does
the same work for each.
"""

from __future__ import annotations

import binascii
import json
import struct
from dataclasses import dataclass

MAGIC = b"SVB1"
_HEADER = struct.Struct(">4sHHIQ")
# Close to the size of a short MLS application message (ciphertext plus framing).
BODY_SIZE = 160
_PADDING = b"\x00" * (BODY_SIZE - _HEADER.size)
_BODY_KEY = b'"body"'


@dataclass(frozen=True, slots=True)
class Stamp:
    step: int
    sender: int
    counter: int
    sent_ns: int


def encode_body(stamp: Stamp) -> str:
    """The base64 text of a benchmark body carrying ``stamp``."""
    raw = _HEADER.pack(MAGIC, stamp.step, stamp.sender, stamp.counter, stamp.sent_ns) + _PADDING
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def send_frame(room_id: str, stamp: Stamp) -> bytes:
    """A Sottovoce ``send`` frame; ``client_id`` is unique per message, so sends are idempotent."""
    key = f"{stamp.step}.{stamp.sender}.{stamp.counter}"
    return (
        f'{{"type":"send","id":"{key}","room_id":"{room_id}",'
        f'"client_id":"{key}","body":"{encode_body(stamp)}"}}'
    ).encode()


def find_stamp(payload: bytes) -> Stamp | None:
    """The stamp of the benchmark body in a delivered frame, or None when the frame has none.

    Works on the raw bytes instead of parsing JSON, so that the generator's own cost per delivery
    stays small next to the server's; both a Sottovoce ``event`` frame and a relayed ``send``
    frame hold exactly one ``"body"`` string.
    """
    key = payload.find(_BODY_KEY)
    if key < 0:
        return None
    start = payload.find(b'"', key + len(_BODY_KEY)) + 1
    end = payload.find(b'"', start)
    if start <= 0 or end < 0:
        return None
    try:
        raw = binascii.a2b_base64(payload[start : start + 28])
    except binascii.Error:
        return None
    if len(raw) < _HEADER.size or not raw.startswith(MAGIC):
        return None
    _, step, sender, counter, sent_ns = _HEADER.unpack_from(raw)
    return Stamp(step, sender, counter, sent_ns)


def auth_frame(token: str, since: dict[str, int] | None = None) -> bytes:
    frame: dict[str, object] = {"type": "auth", "token": token}
    if since:
        frame["since"] = since
    return json.dumps(frame).encode()


def ping_frame(request_id: str) -> bytes:
    return json.dumps({"type": "ping", "id": request_id}).encode()
