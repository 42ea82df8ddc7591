"""Wing-Gong/Lowe linearizability search over a per-key register model.

The algorithm follows porcupine: call and return events are put in a doubly linked list in
time order; the search repeatedly tries to linearize a pending call, "lifting" it and its return
out of the list, and backtracks when it meets a return whose call is not yet linearized. The
cache of (linearized-bitset, state) pairs prunes states already explored (Lowe's optimisation).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from hive_sim.linearizability.history import Operation, OpKind

_NEVER = 2**62  # return time of operations that never returned


class CheckOutcome(Enum):
    LINEARIZABLE = "linearizable"
    VIOLATION = "violation"
    UNKNOWN = "unknown"  # the time limit was reached first


@dataclass(frozen=True)
class CheckResult:
    outcome: CheckOutcome
    failing_key: str | None = None
    failing_operations: tuple[Operation, ...] = field(default_factory=tuple)
    keys_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.outcome is CheckOutcome.LINEARIZABLE


class _Node:
    __slots__ = ("call", "match", "next", "op", "op_id", "prev")

    def __init__(self, op: Operation | None, op_id: int, call: bool) -> None:
        self.op = op
        self.op_id = op_id
        self.call = call
        self.match: _Node | None = None
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _step(state: int | None, op: Operation) -> tuple[bool, int | None]:
    """Register model: may ``op`` take effect in ``state``, and what state follows."""
    if op.kind is OpKind.PUT:
        return True, op.value
    if op.kind is OpKind.GET:
        return op.output == state, state
    matches = state == op.expected
    if op.output is None:
        return True, (op.value if matches else state)
    if op.output is True:
        return matches, (op.value if matches else state)
    return not matches, state


def _check_partition(ops: list[Operation], deadline: float, clock: Callable[[], float]) -> CheckOutcome:
    events: list[tuple[int, int, _Node]] = []
    for op_id, op in enumerate(ops):
        call = _Node(op, op_id, True)
        ret = _Node(None, op_id, False)
        call.match = ret
        returned = _NEVER if op.returned is None else op.returned
        # Calls sort before returns at equal times: touching operations count as concurrent.
        events.append((op.invoked, 0, call))
        events.append((returned, 1, ret))
    events.sort(key=lambda event: (event[0], event[1], event[2].op_id))
    head = _Node(None, -1, False)
    previous = head
    for _, _, node in events:
        previous.next = node
        node.prev = previous
        previous = node

    def lift(call: _Node) -> None:
        call.prev.next = call.next  # type: ignore[union-attr]
        if call.next is not None:
            call.next.prev = call.prev
        ret = call.match
        assert ret is not None
        ret.prev.next = ret.next  # type: ignore[union-attr]
        if ret.next is not None:
            ret.next.prev = ret.prev

    def unlift(call: _Node) -> None:
        ret = call.match
        assert ret is not None
        ret.prev.next = ret  # type: ignore[union-attr]
        if ret.next is not None:
            ret.next.prev = ret
        call.prev.next = call  # type: ignore[union-attr]
        if call.next is not None:
            call.next.prev = call

    state: int | None = None
    linearized = 0
    cache: set[tuple[int, int | None]] = set()
    stack: list[tuple[_Node, int | None]] = []
    entry = head.next
    steps = 0
    while head.next is not None:
        steps += 1
        if steps & 0x3FF == 0 and clock() > deadline:
            return CheckOutcome.UNKNOWN
        assert entry is not None
        if entry.call:
            assert entry.op is not None
            ok, new_state = _step(state, entry.op)
            if ok:
                new_linearized = linearized | (1 << entry.op_id)
                key = (new_linearized, new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((entry, state))
                    state = new_state
                    linearized = new_linearized
                    lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            if not stack:
                return CheckOutcome.VIOLATION
            top, state = stack.pop()
            linearized &= ~(1 << top.op_id)
            unlift(top)
            entry = top.next
    return CheckOutcome.LINEARIZABLE


def check_history(
    history: Iterable[Operation],
    *,
    time_limit_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Check that ``history`` is linearizable for independent registers starting absent (None)."""
    partitions: dict[str, list[Operation]] = {}
    for op in history:
        if op.kind is OpKind.GET and op.returned is None:
            continue  # a read that never returned constrains nothing
        partitions.setdefault(op.key, []).append(op)
    deadline = clock() + time_limit_s
    unknown_key: str | None = None
    for key in sorted(partitions):
        outcome = _check_partition(partitions[key], deadline, clock)
        if outcome is CheckOutcome.VIOLATION:
            return CheckResult(outcome, key, tuple(partitions[key]), len(partitions))
        if outcome is CheckOutcome.UNKNOWN and unknown_key is None:
            unknown_key = key
    if unknown_key is not None:
        return CheckResult(CheckOutcome.UNKNOWN, unknown_key, (), len(partitions))
    return CheckResult(CheckOutcome.LINEARIZABLE, None, (), len(partitions))
