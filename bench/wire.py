"""What the load generator puts on the wire and reads back, with no I/O.

Every benchmark message body carries its own measurement header, so that a receiver can compute
send-to-delivery latency and count losses without any shared state with the sender:

    magic "SVB1" | step u16 | sender u16 | counter u32 | sent_ns u64 | padding

``sent_ns`` is ``time.monotonic_ns()`` of the generator process that both sends and receives.

The server reads the cleartext header of every body (``core.delivery.read_header``), so the stamp
travels as the ciphertext of an MLS PrivateMessage (RFC 9420 section 6.3) of the room's group at
epoch 0, content type application: the server does its real check on it. The envelope is encoded
once per room with the library's own MLS structs; the ciphertext is the last ``CIPHERTEXT_SIZE``
bytes of a body whose length is a multiple of 3, so its base64 text is the last characters of the
body's and the receiver decodes only the stamp's. The body is base64-encoded, as the protocol
requires; the baseline relay forwards the very same ``send`` frame, so both targets move frames of
the same size and the receiver does the same work for each.
"""

from __future__ import annotations

import binascii
import functools
import json
import struct
from dataclasses import dataclass

from sottovoce.core.ids import new_client_id
from sottovoce.mls._codec import serialize
from sottovoce.mls._framing_structs import ContentType, MLSMessage, PrivateMessage

MAGIC = b"SVB1"
_HEADER = struct.Struct(">4sHHIQ")
# Close to the size of a short MLS application message (ciphertext plus framing); a room id too
# long to fit makes the body longer, never shorter.
BODY_SIZE = 160
# A multiple of 3, so that the ciphertext's base64 text starts on a 4-character boundary counted
# from the end of the body.
CIPHERTEXT_SIZE = 99
_PADDING = b"\x00" * (CIPHERTEXT_SIZE - _HEADER.size)
_CIPHERTEXT_CHARS = CIPHERTEXT_SIZE // 3 * 4
# The base64 characters that cover the stamp (21 bytes, the first multiple of 3 it fits in).
_STAMP_CHARS = -(-_HEADER.size // 3) * 4
_BODY_KEY = b'"body"'


@dataclass(frozen=True, slots=True)
class Stamp:
    step: int
    sender: int
    counter: int
    sent_ns: int


@functools.lru_cache(maxsize=1024)
def _envelope(room_id: str) -> bytes:
    """The bytes of a body for ``room_id`` before its ciphertext."""

    def body(sender_data: int) -> bytes:
        message = PrivateMessage(
            group_id=room_id.encode(),
            epoch=0,
            content_type=ContentType.APPLICATION,
            authenticated_data=b"",
            encrypted_sender_data=bytes(sender_data),
            ciphertext=bytes(CIPHERTEXT_SIZE),
        )
        return serialize(MLSMessage(message))

    # The opaque sender data takes up the slack, so that the body is at least BODY_SIZE and a
    # multiple of 3 long whatever the room id's length.
    sender_data = 0
    while len(raw := body(sender_data)) < BODY_SIZE or len(raw) % 3:
        sender_data += 1
    return raw[:-CIPHERTEXT_SIZE]


def encode_body(room_id: str, stamp: Stamp) -> str:
    """The base64 text of a benchmark body for ``room_id`` carrying ``stamp``."""
    ciphertext = _HEADER.pack(MAGIC, stamp.step, stamp.sender, stamp.counter, stamp.sent_ns)
    raw = _envelope(room_id) + ciphertext + _PADDING
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


def send_frame(room_id: str, stamp: Stamp) -> bytes:
    """A Sottovoce ``send`` frame, whose ``client_id`` is made as the SDK makes it: the server's
    index of them costs what it costs with real clients."""
    key = f"{stamp.step}.{stamp.sender}.{stamp.counter}"
    return (
        f'{{"type":"send","id":"{key}","room_id":"{room_id}",'
        f'"client_id":"{new_client_id()}","body":"{encode_body(room_id, stamp)}"}}'
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
    if start <= 0 or end < 0 or end - start < _CIPHERTEXT_CHARS:
        return None
    stamp_at = end - _CIPHERTEXT_CHARS
    try:
        raw = binascii.a2b_base64(payload[stamp_at : stamp_at + _STAMP_CHARS])
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
