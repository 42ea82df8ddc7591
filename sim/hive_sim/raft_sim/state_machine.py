"""The simulated replicated state machine: registers with put/cas, and its command codec."""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

PUT = 0
CAS = 1


@dataclass(frozen=True, slots=True)
class Command:
    op_id: int
    kind: int
    key: str
    value: int
    expected: int | None = None

    def encode(self) -> bytes:
        return bytes(msgpack.packb([self.op_id, self.kind, self.key, self.value, self.expected]))

    @classmethod
    def decode(cls, data: bytes) -> Command:
        op_id, kind, key, value, expected = msgpack.unpackb(data)
        return cls(op_id, kind, key, value, expected)


class RegisterMachine:
    """Registers keyed by string, each holding an int or absent (None)."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def apply(self, command: Command) -> bool:
        """Apply ``command``; returns True for a put or a successful compare-and-set."""
        if command.kind == PUT:
            self.values[command.key] = command.value
            return True
        if self.values.get(command.key) == command.expected:
            self.values[command.key] = command.value
            return True
        return False

    def get(self, key: str) -> int | None:
        return self.values.get(key)

    def snapshot(self) -> bytes:
        return bytes(msgpack.packb(sorted(self.values.items())))

    def restore(self, data: bytes) -> None:
        self.values = {key: value for key, value in msgpack.unpackb(data)} if data else {}
