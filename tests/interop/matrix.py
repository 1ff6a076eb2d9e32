"""Delivery between members, recorded as an interop matrix: operation x wire format x direction.

Every hand-over goes through here, so a failure is recorded (and re-raised) with the operation,
the wire format read from the message itself, which implementation sent it and which rejected it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.interop.members import Candidate, Delivered, Member

# MLSMessage starts with version (u16) then wire_format (u16), RFC 9420 section 6.
_WIRE_FORMATS = {1: "PublicMessage", 2: "PrivateMessage", 3: "Welcome", 4: "GroupInfo"}


def wire_format(message: bytes) -> str:
    return _WIRE_FORMATS.get(int.from_bytes(message[2:4], "big"), "unknown")


@dataclass
class _Cell:
    passed: int = 0
    failure: str | None = None


@dataclass
class Matrix:
    _cells: dict[tuple[str, str, str], _Cell] = field(default_factory=dict)

    def _cell(self, operation: str, wire: str, sender: str, receiver: str) -> _Cell:
        return self._cells.setdefault((operation, wire, f"{sender} -> {receiver}"), _Cell())

    def deliver(
        self, operation: str, sender: Member, message: bytes, receivers: Sequence[Member]
    ) -> list[Delivered]:
        """Hand ``message`` to each receiver in turn; the first rejection is recorded and raised."""
        results = []
        for receiver in receivers:
            cell = self._cell(
                operation, wire_format(message), sender.implementation, receiver.implementation
            )
            with self._recording(cell, receiver.name):
                results.append(receiver.process(message))
        return results

    def join(
        self,
        committer: Member,
        candidate: Candidate,
        welcome: bytes,
        ratchet_tree: bytes | None,
        *,
        public: bool,
    ) -> Member:
        how = "join (tree in Welcome)" if ratchet_tree is None else "join (tree out of band)"
        cell = self._cell(how, "Welcome", committer.implementation, candidate.implementation)
        with self._recording(cell, candidate.name):
            return candidate.join(welcome, ratchet_tree, public=public)

    def join_external(
        self, member: Member, candidate: Candidate, *, public: bool
    ) -> tuple[Member, bytes]:
        """``candidate`` joins from ``member``'s GroupInfo; returns it and its external commit."""
        group_info = member.group_info()
        cell = self._cell(
            "external join", "GroupInfo", member.implementation, candidate.implementation
        )
        with self._recording(cell, candidate.name):
            return candidate.join_external(group_info, public=public)

    @contextmanager
    def _recording(self, cell: _Cell, receiver: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            cell.failure = f"{receiver} rejects: {type(exc).__name__}: {exc}"
            raise
        cell.passed += 1

    def render(self) -> str:
        if not self._cells:
            return "ts-mls interop matrix: nothing ran"
        rows = [("operation", "wire format", "sender -> receiver", "result")]
        for (operation, wire, direction), cell in sorted(self._cells.items()):
            result = f"ok x{cell.passed}" if cell.failure is None else f"FAIL {cell.failure}"
            rows.append((operation, wire, direction, result))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["", "ts-mls interop matrix"]
        for row in rows:
            padded = [value.ljust(width) for value, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*padded, row[3]]))
        return "\n".join(lines)
