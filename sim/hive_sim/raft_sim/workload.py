"""Register clients: each runs one operation at a time against the node it believes leads.

Every operation's invocation and completion (simulated time) is recorded for the
linearizability checker. Writes that time out stay in the history with no return (they may or
may not have happened); writes known to be lost and reads that never returned are dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hive_sim.linearizability import Operation, OpKind


@dataclass
class OpRecord:
    ref: int
    client: int
    key: str
    kind: OpKind
    invoked: int
    value: int | None = None
    expected: int | None = None
    returned: int | None = None
    output: int | bool | None = None
    dropped: bool = False

    def to_operation(self) -> Operation:
        return Operation(
            client=self.client,
            key=self.key,
            kind=self.kind,
            invoked=self.invoked,
            returned=self.returned,
            value=self.value,
            expected=self.expected,
            output=self.output,
        )


@dataclass
class Client:
    client_id: int
    target: int
    current: OpRecord | None = None


class Workload:
    def __init__(self, rng: random.Random, *, clients: int, keys: int, first_target: int) -> None:
        self.rng = rng
        self.keys = [f"k{i}" for i in range(keys)]
        self.clients = [Client(i + 1, first_target) for i in range(clients)]
        self.records: list[OpRecord] = []
        self._next_value = 1
        self.seen: dict[str, list[int]] = {key: [] for key in self.keys}

    def new_op(self, client: Client, now: int) -> OpRecord:
        rng = self.rng
        key = rng.choice(self.keys)
        roll = rng.random()
        if roll < 0.4:
            kind, value, expected = OpKind.GET, None, None
        elif roll < 0.75:
            kind, value, expected = OpKind.PUT, self._fresh(key), None
        else:
            seen = self.seen[key]
            expected = rng.choice(seen[-3:]) if seen else None
            kind, value = OpKind.CAS, self._fresh(key)
        record = OpRecord(len(self.records), client.client_id, key, kind, now, value=value, expected=expected)
        self.records.append(record)
        client.current = record
        return record

    def _fresh(self, key: str) -> int:
        value = self._next_value
        self._next_value += 1
        self.seen[key].append(value)
        return value

    def history(self) -> list[Operation]:
        return [record.to_operation() for record in self.records if not record.dropped]

    def completed(self) -> int:
        return sum(1 for record in self.records if record.returned is not None and not record.dropped)
