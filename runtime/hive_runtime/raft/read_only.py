"""Bookkeeping of pending ReadIndex requests on the leader (thesis §6.4).

A read is registered with the commit index at arrival; it becomes safe to serve once a majority
acknowledges a heartbeat sent after it arrived, proving the leader was still leader.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class ReadRequest:
    index: int
    requester: int
    context: bytes
    acks: set[int] = field(default_factory=set)


class ReadOnlyQueue:
    """Pending reads in arrival order, keyed by their (unique) context."""

    def __init__(self) -> None:
        self._pending: dict[bytes, ReadRequest] = {}
        self._queue: list[bytes] = []

    def add(self, request: ReadRequest) -> bool:
        if request.context in self._pending:
            return False
        self._pending[request.context] = request
        self._queue.append(request.context)
        return True

    def ack(self, context: bytes, sender: int) -> ReadRequest | None:
        request = self._pending.get(context)
        if request is not None:
            request.acks.add(sender)
        return request

    def release_through(self, context: bytes) -> list[ReadRequest]:
        """Remove and return every request up to and including ``context``."""
        if context not in self._pending:
            return []
        position = self._queue.index(context)
        released = [self._pending.pop(ctx) for ctx in self._queue[: position + 1]]
        del self._queue[: position + 1]
        return released

    def last_context(self) -> bytes:
        return self._queue[-1] if self._queue else b""
