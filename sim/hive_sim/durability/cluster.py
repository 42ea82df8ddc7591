"""Nodes of the production driver on power-loss disks, joined by a seeded in-memory network.

Each :class:`SimNode` is what a runtime pod runs for consensus: the production
:class:`~hive_runtime.node.driver.RaftDriver` (or a subclass a test injects), its
:class:`~hive_runtime.node.durable.DurableRaftStorage` on the real WAL, hard-state and snapshot
code, and the production :class:`~hive_runtime.node.state.NodeStateMachine`; only the disk
(:class:`~hive_sim.powerloss.PowerLossDisk` behind the ``OsFileOps`` seam), the network and the
clock are simulated. A node dies by a crash (page cache kept), a power cut (unsynced data lost,
torn tails) or an armed cut that fires inside one of its own file operations, and comes back by
recovering from its disk, as a restarted pod does.

Everything a dead process could still try to do is refused: its file operations raise
:class:`~hive_sim.powerloss.PowerCut`, its messages are dropped, and clients ignore answers from
it, so a Ready loop callback already queued when the node died changes nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hive_runtime import raft
from hive_runtime.node.driver import RaftDriver
from hive_runtime.node.durable import DurableRaftStorage
from hive_runtime.node.state import NodeStateMachine
from hive_sim.deferred import drop_background, run_background
from hive_sim.powerloss import PowerCut, PowerLossDisk

DATA_DIR = Path("/data/raft")
TICK_SECONDS = 0.01  # election timeouts of 150-300 ms, heartbeats every 20 ms


@dataclass(frozen=True)
class ClusterProfile:
    """Per-seed knobs (chosen from the seed by :func:`hive_sim.durability.run.profile_for`)."""

    nodes: int
    segment_bytes: int
    snapshot_every: int
    keep_entries: int
    drop_rate: float
    max_delay: float  # seconds
    # the node's way: fsync on the wal-sync "thread" (simulated), the loop going on meanwhile
    sync_off_loop: bool = False


@dataclass
class Findings:
    """What the run found wrong; empty when the seed passed."""

    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(problem)


class AppliedLedger:
    """State machine safety across the cluster: no index is ever applied with two different commands."""

    def __init__(self, findings: Findings) -> None:
        self._applied: dict[int, tuple[int, bytes]] = {}
        self._findings = findings

    def note(self, node_id: int, index: int, data: bytes) -> None:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        seen = self._applied.setdefault(index, (node_id, digest))
        if seen[1] != digest:
            self._findings.add(
                f"state machine safety: index {index} applied differently by nodes {seen[0]} and {node_id}"
            )


class LedgerStateMachine(NodeStateMachine):
    """The production state machine, reporting every command it applies to the ledger."""

    def __init__(self, node_id: int, ledger: AppliedLedger) -> None:
        super().__init__(register_space=True)  # the clients' histories are register operations
        self._node_id = node_id
        self._ledger = ledger
        self._in_batch = False

    def apply(self, index: int, data: bytes) -> bytes:
        if not self._in_batch:
            self._ledger.note(self._node_id, index, data)
        return super().apply(index, data)

    def apply_batch(self, index: int, data: bytes) -> list[bytes]:
        self._ledger.note(self._node_id, index, data)
        self._in_batch = True
        try:
            return super().apply_batch(index, data)
        finally:
            self._in_batch = False


class SimNode:
    def __init__(self, node_id: int, cluster: SimCluster, *, seed: int) -> None:
        self.id = node_id
        self.cluster = cluster
        self.disk = PowerLossDisk(rng=random.Random(f"{seed}/disk/{node_id}"))
        self.disk.make_durable_dirs(DATA_DIR.parent)
        self.disk.on_power_cut = self._cut_from_inside
        self._rng = random.Random(f"{seed}/node/{node_id}")
        self.up = False
        self.driver: RaftDriver | None = None
        self.state: NodeStateMachine | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self.restarts = 0

    @property
    def incarnation(self) -> int:
        return self.disk.incarnation

    def start(self) -> None:
        if self.up:
            return
        cluster = self.cluster
        try:
            storage = DurableRaftStorage(
                DATA_DIR,
                bootstrap=raft.ConfState(frozenset(cluster.nodes)),
                segment_bytes=cluster.profile.segment_bytes,
                file_ops=self.disk.ops(),
            )
        except PowerCut:  # an armed cut fired during recovery: try again later
            self.cluster.schedule_restart(self, 0.05)
            return
        except Exception as error:
            cluster.findings.add(f"node {self.id} cannot recover its disk: {type(error).__name__}: {error}")
            return
        self.state = LedgerStateMachine(self.id, cluster.ledger)
        incarnation = self.incarnation
        self.driver = cluster.driver_class(
            # the runtime's defaults (hive_runtime.config: 10 ms ticks, 15 and 2 ticks)
            raft_config=raft.RaftConfig(
                node_id=self.id, election_ticks=15, heartbeat_ticks=2, broadcast_commit=False
            ),
            storage=storage,
            state=self.state,
            rng=self._rng,
            send=lambda message: cluster.network.send(self, incarnation, message),
            snapshot_every=cluster.profile.snapshot_every,
            keep_entries=cluster.profile.keep_entries,
            snapshot_capture=self._capture_snapshot,
            sync_executor=_SimSyncThread(self, incarnation) if cluster.profile.sync_off_loop else None,
        )
        self.up = True
        self.restarts += 1
        task = cluster.loop.create_task(self.driver.run())
        task.add_done_callback(lambda done: self._driver_stopped(done, incarnation))
        cluster.tasks.append(task)
        self._timers = [
            cluster.loop.call_later(self._rng.uniform(0, TICK_SECONDS), self._tick, incarnation),
            cluster.loop.call_later(self._rng.uniform(0, 0.005), self._background, incarnation),
        ]

    def _capture_snapshot(self, index: int, done: Callable[[int, bytes | None], None]) -> bool:
        """Like the node's forked capture: the state as of now, handed back a little later."""
        assert self.state is not None
        data = self.state.snapshot()
        self.cluster.loop.call_later(self._rng.uniform(0.001, 0.05), done, index, data)
        return True

    def _tick(self, incarnation: int) -> None:
        if self.up and self.incarnation == incarnation and self.driver is not None:
            self.driver.tick()
            self._timers[0] = self.cluster.loop.call_later(TICK_SECONDS, self._tick, incarnation)

    def _background(self, incarnation: int) -> None:
        """The WAL's worker threads get the CPU now and then (see :mod:`hive_sim.deferred`)."""
        if not (self.up and self.incarnation == incarnation):
            return
        try:
            run_background(self.disk, jobs=1)
        except PowerCut:
            return  # _cut_from_inside has taken the node down
        self._timers[1] = self.cluster.loop.call_later(
            self._rng.uniform(0.0005, 0.005), self._background, incarnation
        )

    def _driver_stopped(self, task: asyncio.Task[None], incarnation: int) -> None:
        if task.cancelled() or incarnation != self.incarnation:
            return
        error = task.exception()
        if isinstance(error, PowerCut):
            return
        self.cluster.findings.add(f"node {self.id} stopped: {type(error).__name__}: {error}")
        self._go_down()

    def _cut_from_inside(self) -> None:
        """An armed cut fired inside this node's own file operation."""
        self._go_down()
        self.cluster.schedule_restart(self, self._rng.uniform(0.02, 0.3))

    def kill(self, *, power: bool) -> None:
        """Kill the process (``power=False``: page cache survives) or cut the power."""
        if power:
            self.disk.power_cut()
        elif self.up:
            self.disk.crash()
        self._go_down()

    def _go_down(self) -> None:
        self.up = False
        for timer in self._timers:
            timer.cancel()
        drop_background(self.disk)
        if self.driver is not None and self.driver.fatal is None:
            self.driver.fatal = PowerCut("the process is dead")  # its queued callbacks do nothing
        self.driver = None

    def deliver(self, message: raft.Message) -> None:
        driver = self.driver
        if not self.up or driver is None:
            return
        try:
            driver.step(message)
        except raft.SafetyViolation as violation:
            self.cluster.findings.add(f"node {self.id}: safety violation: {violation}")
            self._go_down()
            return
        driver.run_now()


class _SimSyncThread(concurrent.futures.Executor):
    """The node's ``wal-sync`` thread on simulated time: a submitted fsync runs a seeded moment
    later while the loop (frames, ticks, proposals) goes on; if the process died meanwhile it never
    runs and never returns, as a thread dies with its process."""

    def __init__(self, node: SimNode, incarnation: int) -> None:
        self._node = node
        self._incarnation = incarnation
        self._rng = random.Random(f"{node.cluster.profile}/sync/{node.id}/{incarnation}")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        node = self._node

        def run() -> None:
            if not (node.up and node.incarnation == self._incarnation):
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # PowerCut from a cut armed inside the fsync, too
                future.set_exception(error)

        node.cluster.loop.call_later(self._rng.uniform(0.0001, 0.003), run)
        return future


class Network:
    """Seeded delays and drops, with partitions; a dead sender's messages go nowhere."""

    def __init__(self, cluster: SimCluster, *, seed: int) -> None:
        self._cluster = cluster
        self._rng = random.Random(f"{seed}/network")
        self.blocked: set[tuple[int, int]] = set()
        self.messages = 0

    def send(self, sender: SimNode, incarnation: int, message: raft.Message) -> None:
        if not sender.up or sender.incarnation != incarnation:
            return
        profile = self._cluster.profile
        if self._rng.random() < profile.drop_rate:
            return
        self.messages += 1
        wire = message.to_wire()
        delay = self._rng.uniform(0.0001, profile.max_delay)
        self._cluster.loop.call_later(delay, self._deliver, wire)

    def _deliver(self, wire: list[Any]) -> None:
        message = raft.Message.from_wire(wire)
        if (message.sender, message.to) in self.blocked:
            return
        target = self._cluster.nodes.get(message.to)
        if target is not None:
            target.deliver(message)

    def isolate(self, node_id: int) -> None:
        for other in self._cluster.nodes:
            if other != node_id:
                self.blocked |= {(node_id, other), (other, node_id)}

    def heal(self) -> None:
        self.blocked.clear()


class SimCluster:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        profile: ClusterProfile,
        *,
        seed: int,
        driver_class: Callable[..., RaftDriver] = RaftDriver,
    ) -> None:
        self.loop = loop
        self.profile = profile
        self.driver_class = driver_class
        self.findings = Findings()
        self.ledger = AppliedLedger(self.findings)
        self.tasks: list[asyncio.Task[None]] = []
        self.nodes: dict[int, SimNode] = {}
        for node_id in range(1, profile.nodes + 1):
            self.nodes[node_id] = SimNode(node_id, self, seed=seed)
        self.network = Network(self, seed=seed)

    def start(self) -> None:
        for node in self.nodes.values():
            node.start()

    def schedule_restart(self, node: SimNode, delay: float) -> None:
        self.loop.call_later(delay, node.start)

    def up_nodes(self) -> list[SimNode]:
        return [node for node in self.nodes.values() if node.up]

    def stop(self) -> None:
        for node in self.nodes.values():
            node.kill(power=False)
        for task in self.tasks:
            task.cancel()
