"""A simulated node driver: the Ready contract carried out against an in-memory "disk".

The disk (a :class:`MemoryStorage`) only receives a Ready's writes when its simulated fsync
completes; a crash before that keeps a random prefix of the write (entries, then hard state), as
a WAL whose tail was not synced would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from hive_runtime.raft import (
    ConfState,
    Entry,
    EntryKind,
    MemoryStorage,
    RaftConfig,
    RaftNode,
    Ready,
    decode_conf_entry,
)
from hive_sim.raft_sim.state_machine import Command, RegisterMachine

ApplyHook = Callable[[int, Entry], None]  # called with (node id, entry) for every applied entry


@dataclass
class PendingProposal:
    op_ref: int
    data: bytes


@dataclass
class SimNode:
    node_id: int
    config: RaftConfig
    disk: MemoryStorage
    rng: random.Random
    raft: RaftNode | None = None
    incarnation: int = 0
    machine: RegisterMachine = field(default_factory=RegisterMachine)
    conf: ConfState = field(default_factory=ConfState)
    in_flight: Ready | None = None  # a Ready whose fsync has not completed yet
    proposals: dict[int, PendingProposal] = field(default_factory=dict)
    reads: dict[bytes, int] = field(default_factory=dict)  # read context -> op ref
    read_waits: list[tuple[int, bytes]] = field(default_factory=list)  # (index, context)
    compact_every: int = 64
    removed: bool = False
    tick_us: int = 100_000
    leader_term: int = -1  # last term this node was seen leading (for the safety monitor)
    recorded_commit: int = 0  # commit index already reported to the safety monitor
    voted: int | None = None  # vote in the last persisted hard state (for fault points)
    node_class: type[RaftNode] = RaftNode  # a planted-bug subclass in teeth tests (hive_sim.planted)

    @property
    def alive(self) -> bool:
        return self.raft is not None

    def start(self) -> None:
        self.incarnation += 1
        self.raft = self.node_class(self.config, self.disk, rng=random.Random(self.rng.getrandbits(64)))
        snapshot = self.disk.snapshot()
        self.machine.restore(snapshot.data)
        self.conf = snapshot.meta.conf_state
        self.in_flight = None

    def crash(self) -> None:
        """Stop the process; an unsynced write survives only as a random prefix."""
        if self.in_flight is not None:
            ready = self.in_flight
            records = int(ready.snapshot is not None) + len(ready.entries) + int(ready.hard_state is not None)
            self.persist(ready, limit=self.rng.randint(0, records))
        self.raft = None
        self.in_flight = None
        self.proposals.clear()
        self.reads.clear()
        self.read_waits.clear()

    def persist(self, ready: Ready, *, limit: int | None = None) -> None:
        """Write ``ready``'s snapshot, entries and hard state; ``limit`` keeps only a prefix."""
        budget = 1 << 30 if limit is None else limit
        if ready.snapshot is not None:
            if budget == 0:
                return
            self.disk.apply_snapshot(ready.snapshot)
            budget -= 1
        entries = ready.entries[:budget]
        self.disk.append(entries)
        budget -= len(entries)
        if ready.hard_state is not None and budget > 0 and len(entries) == len(ready.entries):
            self.disk.set_hard_state(ready.hard_state)

    def apply(self, ready: Ready, on_entry: ApplyHook) -> list[tuple[int, object]]:
        """Apply the Ready's snapshot and committed entries; returns (op ref, result) completions."""
        done: list[tuple[int, object]] = []
        if ready.snapshot is not None:
            self.machine.restore(ready.snapshot.data)
            self.conf = ready.snapshot.meta.conf_state
            for index in [i for i in self.proposals if i <= ready.snapshot.meta.index]:
                del self.proposals[index]
        for entry in ready.committed_entries:
            on_entry(self.node_id, entry)
            result: object = None
            if entry.kind is EntryKind.NORMAL:
                result = self.machine.apply(Command.decode(entry.data))
            elif entry.kind is EntryKind.CONF_CHANGE:
                self.conf = decode_conf_entry(entry.data)[1]
            proposal = self.proposals.pop(entry.index, None)
            if proposal is not None:
                # A different entry at our index means ours was overwritten: it never committed.
                done.append((proposal.op_ref, result if proposal.data == entry.data else _LOST))
        for state in ready.read_states:
            self.read_waits.append((state.index, state.context))
        applied = ready.committed_entries[-1].index if ready.committed_entries else 0
        if ready.snapshot is not None:
            applied = max(applied, ready.snapshot.meta.index)
        assert self.raft is not None
        applied = max(applied, self.raft.log.applied)
        remaining = []
        for index, context in self.read_waits:
            op_ref = self.reads.get(context)
            if op_ref is None:
                continue
            if index <= applied:
                del self.reads[context]
                done.append((op_ref, _READ))
            else:
                remaining.append((index, context))
        self.read_waits = remaining
        if ready.committed_entries:
            self._maybe_compact(applied)
        return done

    def _maybe_compact(self, applied: int) -> None:
        if applied - self.disk.first_index() + 1 < self.compact_every or applied > self.disk.last_index():
            return
        self.disk.create_snapshot(applied, self.conf, self.machine.snapshot())
        self.disk.compact(max(self.disk.first_index() - 1, applied - self.compact_every // 4))


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_LOST = _Marker("LOST")
_READ = _Marker("READ")
LOST = _LOST
READ = _READ
