"""The audit hash chain and checkpoint schedule, computed inside the state machine.

Every applied command yields one record (see :mod:`hive_runtime.audit.records`). For record ``i``:
``leaf_i = SHA-256(0x00 || record_i)`` (the RFC 6962 leaf hash) and
``chain_i = SHA-256(chain_{i-1} || leaf_i)`` with ``chain_{-1}`` 32 zero bytes. A checkpoint
(tree size, Merkle root, chain head, timestamp) is due after every ``every_records`` records or
when ``interval_us`` of command time has passed since the previous one: both are functions of the
log only, so every replica emits the same checkpoints at the same records. When the log goes quiet
the leader proposes an audit tick (a log entry carrying only its time), and
:meth:`AuditChain.idle_checkpoint` checkpoints the records since the last checkpoint once
``interval_us`` has passed: so a trail never keeps an unsigned tail much longer than one interval
after its last record, whether or not more orders come.

Nothing here does I/O: records and checkpoints accumulate in ``pending`` until the node hands them
to an :class:`hive_runtime.audit.trail.AuditWriter` (which signs checkpoints and writes the file).
"""

from __future__ import annotations

from hashlib import sha256
from typing import Any, NamedTuple

from hive_runtime.audit.merkle import MerkleFrontier

GENESIS = bytes(32)
_new_tuple = tuple.__new__  # builds a NamedTuple without the Python-level __new__


class AuditRecord(NamedTuple):
    seq: int
    record: bytes
    chain: bytes


class Checkpoint(NamedTuple):
    tree_size: int
    root: bytes
    chain_head: bytes
    ts_us: int


class AuditChain:
    __slots__ = (
        "every_records",
        "frontier",
        "head",
        "interval_us",
        "last_checkpoint_size",
        "last_checkpoint_us",
        "pending",
    )

    def __init__(self, *, every_records: int = 1000, interval_us: int = 1_000_000) -> None:
        if every_records <= 0 or interval_us <= 0:
            raise ValueError("checkpoint schedule must be positive")
        self.every_records = every_records
        self.interval_us = interval_us
        self.head = GENESIS
        self.frontier = MerkleFrontier()
        self.last_checkpoint_size = 0
        self.last_checkpoint_us = -1
        self.pending: list[AuditRecord | Checkpoint] = []

    @property
    def size(self) -> int:
        return self.frontier.size

    @property
    def unsigned(self) -> int:
        """Records no checkpoint covers yet."""
        return self.frontier.size - self.last_checkpoint_size

    def append(self, record: bytes, ts_us: int) -> bytes:
        """Add one record; returns the new chain head. Emits a checkpoint when one is due."""
        leaf = sha256(b"\x00" + record).digest()
        frontier = self.frontier
        seq = frontier.size
        head = self.head = sha256(self.head + leaf).digest()
        # MerkleFrontier.append, inlined (hot path)
        stack = frontier.stack
        node = leaf
        n = seq
        while n & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            n >>= 1
        stack.append(node)
        frontier.size = seq + 1
        self.pending.append(_new_tuple(AuditRecord, (seq, record, head)))
        if self.last_checkpoint_us < 0:
            self.last_checkpoint_us = ts_us
        if (
            seq + 1 - self.last_checkpoint_size >= self.every_records
            or ts_us - self.last_checkpoint_us >= self.interval_us
        ):
            self.checkpoint(ts_us)
        return head

    def idle_checkpoint_due(self, ts_us: int) -> bool:
        """Whether an audit tick at ``ts_us`` checkpoints anything: some records are not covered by
        a checkpoint yet and ``interval_us`` has passed since the last one."""
        return (
            self.frontier.size > self.last_checkpoint_size
            and ts_us - self.last_checkpoint_us >= self.interval_us
        )

    def idle_checkpoint(self, ts_us: int) -> Checkpoint | None:
        """The checkpoint an audit tick at ``ts_us`` emits (covering every record since the last
        checkpoint) when :meth:`idle_checkpoint_due`, else None."""
        return self.checkpoint(ts_us) if self.idle_checkpoint_due(ts_us) else None

    def checkpoint(self, ts_us: int) -> Checkpoint:
        cp = Checkpoint(self.frontier.size, self.frontier.root(), self.head, ts_us)
        self.pending.append(cp)
        self.last_checkpoint_size = self.frontier.size
        self.last_checkpoint_us = ts_us
        return cp

    def take(self) -> list[AuditRecord | Checkpoint]:
        """Hand over (and forget) the records and checkpoints produced since the last call."""
        pending = self.pending
        self.pending = []
        return pending

    # ---- snapshot --------------------------------------------------------------------------------
    def state(self) -> list[Any]:
        return [
            self.every_records,
            self.interval_us,
            self.head,
            self.frontier.size,
            list(self.frontier.stack),
            self.last_checkpoint_size,
            self.last_checkpoint_us,
        ]

    @classmethod
    def from_state(cls, state: list[Any] | tuple[Any, ...]) -> AuditChain:
        every, interval, head, size, stack, last_size, last_us = state
        chain = cls(every_records=every, interval_us=interval)
        chain.head = bytes(head)
        chain.frontier = MerkleFrontier(size, [bytes(h) for h in stack])
        chain.last_checkpoint_size = last_size
        chain.last_checkpoint_us = last_us
        return chain
