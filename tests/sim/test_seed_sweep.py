"""A few hundred seeded fault schedules for 3- and 5-node clusters: no safety violation, every
history linearizable (Raft §5.4.3 state machine safety, checked end to end)."""

from __future__ import annotations

from collections import Counter

import pytest
from hive_sim.raft_sim import SimConfig, run_seed


@pytest.mark.slow
@pytest.mark.parametrize(("nodes", "seeds"), [(3, range(1, 401)), (5, range(1, 201))])
def test_seed_sweep_has_no_violations(nodes: int, seeds: range) -> None:
    config = SimConfig(nodes=nodes, steps=600)
    failures = []
    faults: Counter[str] = Counter()
    operations = completed = elections = unknown = 0
    for seed in seeds:
        result = run_seed(seed, config)
        if not result.ok:
            failures.append((seed, result.violation))
        faults.update(result.faults)
        operations += result.operations
        completed += result.completed
        elections += result.elections
        unknown += int(result.unknown)
    assert failures == []
    assert unknown == 0
    # The sweep really exercised the protocol under every kind of fault.
    assert completed > 20 * len(seeds) and elections > 3 * len(seeds)
    for kind in (
        "crashes",
        "partitions",
        "flapping",
        "one_way_blocks",
        "conf_changes",
        "transfers",
        "link_changes",
    ):
        assert faults[kind] > 0, kind
