"""The production driver, WAL and state machine keep every acknowledged write through power cuts.

Hundreds of seeds of :mod:`hive_sim.durability`: 3- and 5-node clusters of ``RaftDriver`` on
power-loss disks under crashes, power cuts (one node or all), cuts inside a node's own file
operations and partitions; every client history must be linearizable, no index applied two ways,
every disk recoverable and the replicas equal at the end. ``hive bench durability`` runs thousands.
"""

from __future__ import annotations

import pytest
from hive_sim.durability import run_seed

SEEDS_PER_CHUNK = 50
CHUNKS = 4  # 200 seeds


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_acknowledged_write_is_lost_across_seeds(chunk: int) -> None:
    first = 1 + chunk * SEEDS_PER_CHUNK
    failures = []
    power_cuts = torn = completed = 0
    for seed in range(first, first + SEEDS_PER_CHUNK):
        result = run_seed(seed)
        power_cuts += result.power_cuts
        torn += result.torn_writes
        completed += result.completed
        assert result.completed >= 10, f"seed {seed} made (almost) no progress: {result}"
        if not result.ok:
            failures.append(f"seed {seed}: {result.problems[:3]}")
    assert not failures, "\n".join(failures)
    assert power_cuts > 5 * SEEDS_PER_CHUNK and torn > 0  # the nemesis did its job
    assert completed > 150 * SEEDS_PER_CHUNK  # and the clients theirs


def test_a_seed_replays_exactly() -> None:
    first, second = run_seed(11), run_seed(11)
    assert first.history == second.history
    assert first.actions == second.actions and first.torn_writes == second.torn_writes
