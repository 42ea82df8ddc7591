"""One seed of the durability simulation, end to end, and many seeds in a row.

A seed picks a cluster profile (size, WAL segment size, snapshot interval, network), runs the
clients and the nemesis on simulated time, then heals everything, restarts every node and lets
the clients go on for a quiet period so the final state is read back. It fails when:

- the client history is not linearizable (an acknowledged write was lost, a read saw a value
  that was never committed or was undone, ...);
- two nodes applied different commands at the same index (state machine safety);
- a node could not recover its disk, or stopped with an error other than its death;
- after the quiet period, two nodes at the same applied index hold different state digests.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hive_runtime.node.driver import RaftDriver
from hive_sim.deferred import deferred_storage_workers
from hive_sim.durability.cluster import ClusterProfile, SimCluster
from hive_sim.durability.nemesis import Nemesis
from hive_sim.durability.workload import Client
from hive_sim.linearizability import CheckOutcome, Operation, check_history
from hive_sim.powerloss import PowerCut
from hive_sim.virtual_loop import VirtualTimeLoop

CLIENTS = 3


@dataclass(frozen=True)
class DurabilityConfig:
    fault_seconds: float = 2.0  # simulated time under the nemesis
    quiet_seconds: float = 0.75  # then everything healed and restarted, clients still running
    nodes: int | None = None  # None: 3 or 5, from the seed


@dataclass
class SeedResult:
    seed: int
    profile: ClusterProfile
    problems: list[str]
    checker: str
    operations: int
    completed: int
    actions: dict[str, int]
    simulated_seconds: float
    wall_seconds: float
    torn_writes: int = 0
    power_cuts: int = 0
    history: list[Operation] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems


def profile_for(seed: int, config: DurabilityConfig) -> ClusterProfile:
    rng = random.Random(f"{seed}/profile")
    return ClusterProfile(
        nodes=config.nodes if config.nodes is not None else rng.choice((3, 3, 3, 5)),
        segment_bytes=rng.choice((1024, 2048, 8192)),
        snapshot_every=rng.choice((25, 100, 1000)),
        keep_entries=rng.choice((0, 10, 100)),
        drop_rate=rng.choice((0.0, 0.01, 0.05)),
        max_delay=rng.choice((0.001, 0.003, 0.01)),
        sync_off_loop=seed % 2 == 1,  # not from rng: the other knobs keep their seeds
    )


class _DropDeaths(logging.Filter):
    """The driver logs its own death with a traceback; a simulated death is not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], PowerCut))


@contextmanager
def _quiet_deaths() -> Iterator[None]:
    logger = logging.getLogger("hive_runtime.node.driver")
    death_filter = _DropDeaths()
    logger.addFilter(death_filter)
    try:
        yield
    finally:
        logger.removeFilter(death_filter)


def run_seed(
    seed: int,
    config: DurabilityConfig | None = None,
    *,
    driver_class: Callable[..., RaftDriver] = RaftDriver,
) -> SeedResult:
    """Run one seed; ``driver_class`` lets a test inject a defective driver."""
    config = config or DurabilityConfig()
    profile = profile_for(seed, config)
    started = time.perf_counter()
    loop = VirtualTimeLoop()
    try:
        with deferred_storage_workers(), _quiet_deaths():
            cluster = SimCluster(loop, profile, seed=seed, driver_class=driver_class)
            history: list[Operation] = []
            clients = [Client(i, cluster, history, seed=seed) for i in range(1, CLIENTS + 1)]
            nemesis = Nemesis(cluster, seed=seed)
            loop.run_until_complete(_scenario(cluster, clients, nemesis, config))
            _check_convergence(cluster)
            cluster.stop()
            loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    problems = list(cluster.findings.problems)
    verdict = check_history(history, time_limit_s=10.0)
    if verdict.outcome is CheckOutcome.VIOLATION:
        failing = "; ".join(op.describe() for op in verdict.failing_operations[:12])
        problems.append(f"not linearizable on key {verdict.failing_key}: {failing}")
    disks = [node.disk.stats for node in cluster.nodes.values()]
    return SeedResult(
        seed=seed,
        profile=profile,
        problems=problems,
        checker=verdict.outcome.value,
        operations=len(history),
        completed=sum(client.completed for client in clients),
        actions=dict(nemesis.actions),
        simulated_seconds=config.fault_seconds + config.quiet_seconds,
        wall_seconds=time.perf_counter() - started,
        torn_writes=sum(stats.torn_writes for stats in disks),
        power_cuts=sum(stats.power_cuts for stats in disks),
        history=history,
    )


async def _scenario(
    cluster: SimCluster, clients: list[Client], nemesis: Nemesis, config: DurabilityConfig
) -> None:
    cluster.start()
    end = cluster.loop.time() + config.fault_seconds + config.quiet_seconds
    async with asyncio.TaskGroup() as group:
        group.create_task(nemesis.run(until=config.fault_seconds))
        for client in clients:
            group.create_task(client.run(until=end))


def _check_convergence(cluster: SimCluster) -> None:
    by_index: dict[int, dict[str, list[int]]] = {}
    for node in cluster.up_nodes():
        assert node.state is not None and node.driver is not None
        digests = by_index.setdefault(node.driver.applied_index, {})
        digests.setdefault(node.state.digest(), []).append(node.id)
    for index, digests in by_index.items():
        if len(digests) > 1:
            cluster.findings.add(f"replicas at applied index {index} disagree: {sorted(digests.values())}")


def run_seeds(
    seeds: range,
    config: DurabilityConfig | None = None,
    *,
    driver_class: Callable[..., RaftDriver] = RaftDriver,
    stop_at_first_failure: bool = False,
) -> tuple[list[SeedResult], Counter[str]]:
    """Run ``seeds`` in order; returns the results and the summed nemesis actions."""
    results: list[SeedResult] = []
    actions: Counter[str] = Counter()
    for seed in seeds:
        result = run_seed(seed, config, driver_class=driver_class)
        results.append(result)
        actions.update(result.actions)
        if stop_at_first_failure and not result.ok:
            break
    return results, actions
