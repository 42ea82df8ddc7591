"""The deterministic event loop: nodes, network, clients and nemesis driven by one seed.

Everything that happens is an event on a heap ordered by (simulated time, sequence number), so
a seed replays identically; a rolling hash of every event is the run's trace hash.
"""

from __future__ import annotations

import heapq
import random
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from hive_runtime.raft import (
    ConfState,
    MemoryStorage,
    Message,
    ProposalDropped,
    RaftConfig,
    Ready,
    Role,
)
from hive_sim.linearizability import CheckOutcome, OpKind, check_history
from hive_sim.planted import node_class
from hive_sim.raft_sim.config import SimConfig
from hive_sim.raft_sim.driver import LOST, READ, PendingProposal, SimNode
from hive_sim.raft_sim.invariants import SafetyMonitor, SafetyViolationFound
from hive_sim.raft_sim.nemesis import Nemesis
from hive_sim.raft_sim.network import SimNetwork
from hive_sim.raft_sim.state_machine import CAS, PUT, Command
from hive_sim.raft_sim.workload import Client, Workload

TICK, DELIVER, FSYNC, CLIENT, TIMEOUT, NEMESIS, RESTART, STOP, FLAP, CHECK = range(10)
_EVENT_NAMES = [
    "tick",
    "deliver",
    "fsync",
    "client",
    "timeout",
    "nemesis",
    "restart",
    "stop",
    "flap",
    "check",
]


@dataclass
class SeedResult:
    seed: int
    nodes: int
    violation: str | None
    unknown: bool
    operations: int
    completed: int
    elections: int
    simulated_seconds: float
    wall_seconds: float
    trace_hash: str
    trace_tail: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.violation is None


class Simulation:
    def __init__(self, seed: int, config: SimConfig) -> None:
        self.seed = seed
        self.config = config
        self.rng = random.Random(seed)
        self.now = 0
        self._seq = 0
        self._heap: list[tuple[int, int, int, Any, Any]] = []
        self._hash = seed
        self.trace: deque[tuple[int, str, Any, Any]] = deque(maxlen=config.trace_length)
        self.network = SimNetwork(random.Random(self.rng.getrandbits(64)))
        self.monitor = SafetyMonitor(enabled=config.check_invariants)
        self.nodes: dict[int, SimNode] = {}
        # Swarm testing of the configuration too: drivers may turn these off.
        self.pre_vote = self.rng.random() < 0.7
        self.check_quorum = self.rng.random() < 0.7
        self.max_entries = self.rng.choice([1, 2, 4, 64])
        if config.max_entries_per_message is not None:
            self.max_entries = config.max_entries_per_message
        # Half the seeds run as the runtime does (commit learned lazily); from the seed, so the
        # random stream (and every other seed-derived choice) is unchanged.
        self.broadcast_commit = seed % 2 == 0
        initial = ConfState(frozenset(range(1, config.nodes + 1)))
        for node_id in range(1, config.nodes + 1):
            self.add_node(node_id, MemoryStorage(initial))
        self.workload = Workload(
            random.Random(self.rng.getrandbits(64)), clients=config.clients, keys=config.keys, first_target=1
        )
        self.nemesis = Nemesis(self, random.Random(self.rng.getrandbits(64)))
        self.fsync_max_us = self.rng.choice([200, 2_000, 20_000])
        self.violation: str | None = None

    # ---------------------------------------------------------------- scheduling
    def schedule(self, delay: int, kind: int, a: Any = None, b: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (self.now + delay, self._seq, kind, a, b))

    def add_node(self, node_id: int, disk: MemoryStorage) -> SimNode:
        cfg = self.config
        raft_config = RaftConfig(
            node_id=node_id,
            election_ticks=cfg.election_ticks,
            heartbeat_ticks=cfg.heartbeat_ticks,
            max_entries_per_message=self.max_entries,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            snapshot_chunk_bytes=self.rng.choice([16, 64, 4096]),
            broadcast_commit=self.broadcast_commit,
        )
        node = SimNode(node_id, raft_config, disk, random.Random(self.rng.getrandbits(64)))
        node.node_class = node_class(cfg.planted_bugs)
        node.compact_every = self.rng.choice([8, 32, 256])
        # Clock drift: each node's tick runs a little fast or slow.
        node.tick_us = cfg.tick_us * self.rng.randint(70, 130) // 100
        self.nodes[node_id] = node
        self.start_node(node)
        return node

    def start_node(self, node: SimNode) -> None:
        node.start()
        self.schedule(self.rng.randint(1, self.config.tick_us), TICK, node.node_id, node.incarnation)

    # ---------------------------------------------------------------- running
    def run(self) -> SeedResult:
        started = time.perf_counter()
        cfg = self.config
        for index in range(len(self.workload.clients)):
            self.schedule(self.rng.randint(1, cfg.tick_us * cfg.election_ticks), CLIENT, index)
        self.schedule(self.rng.randint(cfg.tick_us, 20 * cfg.tick_us), NEMESIS)
        self.schedule(2_000_000, CHECK)
        end = cfg.duration_us
        heap = self._heap
        try:
            while heap and heap[0][0] <= end:
                when, _, kind, a, b = heapq.heappop(heap)
                self.now = when
                self._dispatch(kind, a, b)
            self.monitor.check_log_matching([n.raft for n in self.nodes.values() if n.raft is not None])
        except SafetyViolationFound as found:
            self.violation = str(found)
        except Exception as error:  # the core raising is itself a finding
            frames = traceback.format_exception(error)
            self.violation = f"{type(error).__name__}: {error}\n" + "".join(frames[-3:])
        unknown = False
        if self.violation is None and cfg.check_linearizability:
            result = check_history(self.workload.history(), time_limit_s=cfg.linearizability_time_limit_s)
            if result.outcome is CheckOutcome.VIOLATION:
                ops = "\n".join("    " + op.describe() for op in result.failing_operations[-20:])
                self.violation = (
                    f"linearizability: history of key {result.failing_key} is not linearizable\n{ops}"
                )
            unknown = result.outcome is CheckOutcome.UNKNOWN
        return SeedResult(
            seed=self.seed,
            nodes=cfg.nodes,
            violation=self.violation,
            unknown=unknown,
            operations=len(self.workload.history()),
            completed=self.workload.completed(),
            elections=self.monitor.elections,
            simulated_seconds=self.now / 1e6,
            wall_seconds=time.perf_counter() - started,
            trace_hash=f"{self._hash & (2**64 - 1):016x}",
            trace_tail=[self._format(event) for event in self.trace],
            faults=dict(self.nemesis.counts),
        )

    def _dispatch(self, kind: int, a: Any, b: Any) -> None:
        if kind == DELIVER:
            message: Message = a
            self._hash = hash(
                (
                    self._hash,
                    self.now,
                    kind,
                    int(message.type),
                    message.sender,
                    message.to,
                    message.term,
                    message.index,
                    message.commit,
                    message.reject,
                    len(message.entries),
                )
            )
        else:
            self._hash = hash(
                (self._hash, self.now, kind, a if isinstance(a, int) else 0, b if isinstance(b, int) else 0)
            )
        if kind not in (TICK, CLIENT, NEMESIS, CHECK):
            self.trace.append((self.now, _EVENT_NAMES[kind], a, b))
        if kind == TICK:
            node = self.nodes[a]
            if node.raft is not None and node.incarnation == b:
                node.raft.tick()
                self.pump(node)
                self.schedule(node.tick_us, TICK, a, b)
        elif kind == DELIVER:
            target = self.nodes.get(a.to)
            if target is not None and target.raft is not None and self.network.can_deliver(a.sender, a.to):
                # Every message crosses the wire form the real transport uses.
                target.raft.step(Message.from_wire(a.to_wire()))
                self.pump(target)
        elif kind == FSYNC:
            node = self.nodes[a]
            if node.raft is not None and node.incarnation == b and node.in_flight is not None:
                ready, node.in_flight = node.in_flight, None
                crash = self.nemesis.crash_point(
                    ready, previous_vote=node.voted, previous_commit=node.recorded_commit
                )
                node.persist(ready)
                if ready.hard_state is not None:
                    node.voted = ready.hard_state.vote
                    self._record_commit(node, ready.hard_state.commit)
                if crash == "before":
                    self.nemesis.crash(a)
                    self.trace.append(
                        (self.now, "nemesis", f"{self.nemesis.last_action} at a fault point", None)
                    )
                    return
                self._finish_ready(node, ready, applied=True)  # applied when it was taken
                if crash == "after":
                    self.nemesis.crash(a)
                    self.trace.append(
                        (self.now, "nemesis", f"{self.nemesis.last_action} at a fault point", None)
                    )
                    return
                self.pump(node)
        elif kind == CLIENT:
            self._client_act(self.workload.clients[a])
        elif kind == TIMEOUT:
            self._client_timeout(self.workload.clients[a], b)
        elif kind in (NEMESIS, RESTART, STOP, FLAP):
            self.nemesis.handle(kind, a, b)
        elif kind == CHECK:
            self.monitor.check_log_matching([n.raft for n in self.nodes.values() if n.raft is not None])
            self.schedule(2_000_000, CHECK)

    # ---------------------------------------------------------------- the Ready cycle
    def pump(self, node: SimNode) -> None:
        raft = node.raft
        while raft is not None and node.in_flight is None and raft.has_ready():
            ready = raft.ready()
            if ready.soft_state.role is Role.LEADER and node.leader_term != raft.term:
                node.leader_term = raft.term
                self.monitor.on_leader(raft)
            # A leader's appends leave before its own fsync, as the runtime's driver sends them.
            self._send(ready.early_messages)
            if ready.must_sync:
                # Committed entries are durable on a majority: applied (and answered) at once,
                # while this node's own fsync is still in flight; other messages wait for it.
                node.in_flight = ready
                self._apply(node, ready)
                self.schedule(
                    10 + int(self.rng.random() * self.fsync_max_us), FSYNC, node.node_id, node.incarnation
                )
                return
            self._finish_ready(node, ready)

    def _record_commit(self, node: SimNode, commit: int) -> None:
        raft = node.raft
        assert raft is not None
        start = max(node.recorded_commit + 1, raft.log.first_index())
        for index in range(start, commit + 1):
            term = raft.log.term(index)
            if term is not None:
                self.monitor.on_commit(node.node_id, index, term)
        node.recorded_commit = max(node.recorded_commit, commit)

    def _send(self, messages: tuple[Message, ...]) -> None:
        for message in messages:
            for delay in self.network.delivery_delays(message.sender, message.to):
                self.schedule(delay, DELIVER, message)

    def _apply(self, node: SimNode, ready: Ready) -> None:
        """Apply the Ready's committed entries and answer their clients."""
        done = node.apply(ready, self.monitor.on_apply)
        for op_ref, result in done:
            self._complete(node, op_ref, result)
        for entry in ready.committed_entries:
            if entry.kind.name == "CONF_CHANGE":
                self.nemesis.on_conf_applied(entry)

    def _finish_ready(self, node: SimNode, ready: Ready, *, applied: bool = False) -> None:
        self._send(ready.messages)
        if not applied:
            self._apply(node, ready)
        assert node.raft is not None
        node.raft.advance(ready)

    # ---------------------------------------------------------------- clients
    def _client_act(self, client: Client) -> None:
        if client.current is not None:
            return
        record = self.workload.new_op(client, self.now)
        index = client.client_id - 1
        node = self.nodes.get(client.target)
        if node is None or node.raft is None:
            record.dropped = True
            client.current = None
            client.target = self._random_member()
            self.schedule(self.rng.randint(1_000, 50_000), CLIENT, index)
            return
        try:
            if record.kind is OpKind.GET:
                context = record.ref.to_bytes(8, "big")
                node.raft.read_index(context)
                node.reads[context] = record.ref
            else:
                kind = PUT if record.kind is OpKind.PUT else CAS
                assert record.value is not None
                data = Command(record.ref, kind, record.key, record.value, record.expected).encode()
                log_index = node.raft.propose(data)
                node.proposals[log_index] = PendingProposal(record.ref, data)
        except ProposalDropped as dropped:
            record.dropped = True
            client.current = None
            hint = dropped.leader_hint
            client.target = hint if hint is not None and hint in self.nodes else self._random_member()
            self.schedule(self.rng.randint(1_000, 20_000 if hint else 200_000), CLIENT, index)
            return
        self.trace.append((self.now, "invoke", client.target, record))
        self.schedule(self.config.client_timeout_us, TIMEOUT, index, record.ref)
        self.pump(node)

    def _random_member(self) -> int:
        alive = sorted(node_id for node_id, node in self.nodes.items() if not node.removed)
        return self.rng.choice(alive)

    def _complete(self, node: SimNode, op_ref: int, result: object) -> None:
        record = self.workload.records[op_ref]
        if result is LOST:
            record.dropped = True
        elif record.returned is None and not record.dropped:
            record.returned = self.now
            if record.kind is OpKind.GET:
                assert result is READ
                record.output = node.machine.get(record.key)
            elif record.kind is OpKind.CAS:
                assert isinstance(result, bool)
                record.output = result
        self.trace.append((self.now, "complete", node.node_id, record))
        client = self.workload.clients[record.client - 1]
        if client.current is record:
            client.current = None
            self.schedule(self.rng.randint(1_000, 1_000_000), CLIENT, record.client - 1)

    def _client_timeout(self, client: Client, op_ref: int) -> None:
        record = self.workload.records[op_ref]
        if client.current is not record:
            return
        client.current = None
        if record.kind is OpKind.GET:
            record.dropped = True
        client.target = self._random_member()
        self.schedule(self.rng.randint(1_000, 100_000), CLIENT, client.client_id - 1)

    # ---------------------------------------------------------------- reporting
    def _format(self, event: tuple[int, str, Any, Any]) -> str:
        when, name, a, b = event
        stamp = f"{when / 1e6:10.6f}s"
        if name == "deliver":
            m: Message = a
            extra = f" entries={[(e.index, e.term) for e in m.entries]}" if m.entries else ""
            flags = " reject" if m.reject else ""
            return (
                f"{stamp} deliver {m.type.name} {m.sender}->{m.to} term={m.term} index={m.index} "
                f"log_term={m.log_term} commit={m.commit}{flags}{extra}"
            )
        if name in ("tick", "fsync"):
            return f"{stamp} {name} node={a}"
        if name == "invoke":
            body = b.to_operation().describe().split(" -> ")[0].split(" [")[0]
            return f"{stamp} node {a} accepts op {b.ref} from {body}"
        if name == "complete":
            if b.dropped:
                return f"{stamp} node {a}: op {b.ref} lost (its entry was overwritten)"
            return f"{stamp} node {a} completes op {b.ref}: {b.to_operation().describe()}"
        if name == "timeout":
            return f"{stamp} client {a + 1} times out (op {b})"
        if name == "nemesis":
            return f"{stamp} nemesis: {a}"
        return f"{stamp} {name} {self.nemesis.describe(name, a, b)}"


def run_seed(seed: int, config: SimConfig) -> SeedResult:
    """Run one seeded simulation to completion and check its safety and history."""
    return Simulation(seed, config).run()
