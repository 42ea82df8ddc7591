"""Recorded client operations on registers, the checker's input.

Times are in any monotonic unit (the simulator uses simulated microseconds). An operation that
never returned has ``returned=None``: it may or may not have taken effect, so the checker lets it
linearize anywhere after its invocation (or not at all).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class OpKind(Enum):
    PUT = "put"
    GET = "get"
    CAS = "cas"


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on register ``key``.

    PUT: ``value`` written, ``output`` ignored. GET: ``output`` is the value read (None = absent).
    CAS: writes ``value`` if the register holds ``expected``; ``output`` is True/False, or None
    when the client never learned the outcome.
    """

    client: int
    key: str
    kind: OpKind
    invoked: int
    returned: int | None
    value: int | None = None
    expected: int | None = None
    output: int | bool | None = None

    def describe(self) -> str:
        end = "?" if self.returned is None else str(self.returned)
        if self.kind is OpKind.PUT:
            body = f"put({self.key}, {self.value})"
        elif self.kind is OpKind.GET:
            body = f"get({self.key}) -> {self.output}"
        else:
            body = f"cas({self.key}, {self.expected} -> {self.value}) -> {self.output}"
        return f"client {self.client}: {body} [{self.invoked}, {end}]"
