"""A fault-free, in-memory cluster that runs the Ready contract synchronously.

Used by the core's unit tests and by ``hive bench raft``: messages are delivered in FIFO order
(optionally filtered to model partitions), storage is a :class:`MemoryStorage` per node, and
committed entries are collected per node.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

from hive_runtime.raft import (
    ConfState,
    Entry,
    MemoryStorage,
    Message,
    RaftConfig,
    RaftNode,
    ReadState,
    Role,
)
from hive_sim.planted import PlantedBug, node_class


class MemoryCluster:
    def __init__(
        self,
        size: int = 3,
        *,
        seed: int = 1,
        election_ticks: int = 10,
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_entries_per_message: int = 64,
        snapshot_chunk_bytes: int = 64 * 1024,
        learners: tuple[int, ...] = (),
        planted_bugs: frozenset[PlantedBug] = frozenset(),
    ) -> None:
        self.rng = random.Random(seed)
        voters = frozenset(range(1, size + 1))
        self.initial = ConfState(voters, frozenset(learners))
        self.settings = {
            "election_ticks": election_ticks,
            "pre_vote": pre_vote,
            "check_quorum": check_quorum,
            "max_entries_per_message": max_entries_per_message,
            "snapshot_chunk_bytes": snapshot_chunk_bytes,
        }
        self.node_class = node_class(planted_bugs)
        self.nodes: dict[int, RaftNode] = {}
        self.storage: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[Entry]] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.queue: deque[Message] = deque()
        self.sent: list[Message] = []
        self.down: set[int] = set()
        self.allow: Callable[[Message], bool] = lambda message: True
        for node_id in sorted(voters | frozenset(learners)):
            self.add(node_id, MemoryStorage(self.initial))

    def add(self, node_id: int, storage: MemoryStorage) -> RaftNode:
        config = RaftConfig(node_id=node_id, **self.settings)  # type: ignore[arg-type]
        node = self.node_class(config, storage, rng=random.Random(self.rng.getrandbits(32)))
        self.nodes[node_id] = node
        self.storage[node_id] = storage
        self.applied.setdefault(node_id, [])
        self.read_states.setdefault(node_id, [])
        return node

    def restart(self, node_id: int) -> RaftNode:
        """Rebuild a node from its storage, as after a process restart."""
        self.down.discard(node_id)
        return self.add(node_id, self.storage[node_id])

    def process(self, node_id: int) -> None:
        """Run every pending Ready of ``node_id`` following the documented contract."""
        node = self.nodes[node_id]
        storage = self.storage[node_id]
        while node.has_ready():
            ready = node.ready()
            if ready.snapshot is not None:
                storage.apply_snapshot(ready.snapshot)
            storage.append(ready.entries)
            if ready.hard_state is not None:
                storage.set_hard_state(ready.hard_state)
            self.queue.extend(ready.early_messages + ready.messages)
            self.sent.extend(ready.early_messages + ready.messages)
            self.applied[node_id].extend(ready.committed_entries)
            self.read_states[node_id].extend(ready.read_states)
            node.advance(ready)

    def stabilize(self, max_messages: int = 1_000_000) -> int:
        """Process Readys and deliver messages until the cluster is quiet."""
        delivered = 0
        for node_id in sorted(self.nodes):
            if node_id not in self.down:
                self.process(node_id)
        while self.queue and delivered < max_messages:
            message = self.queue.popleft()
            if message.to in self.down or message.to not in self.nodes or not self.allow(message):
                continue
            self.nodes[message.to].step(message)
            delivered += 1
            self.process(message.to)
        return delivered

    def tick(self, times: int = 1) -> None:
        for _ in range(times):
            for node_id in sorted(self.nodes):
                if node_id not in self.down:
                    self.nodes[node_id].tick()
            self.stabilize()

    def elect(self, node_id: int) -> RaftNode:
        """Make ``node_id`` campaign and run the election to completion."""
        self.nodes[node_id].campaign()
        self.stabilize()
        return self.nodes[node_id]

    def leader(self) -> RaftNode | None:
        leaders = [n for i, n in self.nodes.items() if i not in self.down and n.role is Role.LEADER]
        return max(leaders, key=lambda n: n.term) if leaders else None

    def isolate(self, node_id: int) -> None:
        self.allow = lambda message: node_id not in (message.sender, message.to)

    def heal(self) -> None:
        self.allow = lambda message: True
