"""The seam where end-to-end encryption plugs in: every message body the SDK sends goes through
``seal`` and every message event it hands out goes through ``open``. Membership events are the
server's own plaintext JSON and bypass the codec."""

from __future__ import annotations

from typing import Protocol


class BodyCodec(Protocol):
    async def seal(self, room_id: str, plaintext: bytes) -> bytes:
        """The bytes the server stores for ``plaintext`` sent to ``room_id``."""
        ...

    async def open(self, room_id: str, seq: int, sender_device: str, body: bytes) -> bytes:
        """The plaintext of the body stored at ``seq`` of ``room_id``."""
        ...


class PlainCodec:
    """No encryption yet: bodies travel as given."""

    async def seal(self, room_id: str, plaintext: bytes) -> bytes:
        return plaintext

    async def open(self, room_id: str, seq: int, sender_device: str, body: bytes) -> bytes:
        return body
