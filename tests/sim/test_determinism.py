"""Same seed, same run: the simulator is fully deterministic (trace hashes match)."""

from __future__ import annotations

from hive_sim.raft_sim import SimConfig, run_seed


def test_same_seed_gives_identical_trace_hash_and_results() -> None:
    config = SimConfig(nodes=3, steps=300)
    first = run_seed(11, config)
    second = run_seed(11, config)
    assert first.trace_hash == second.trace_hash
    assert (first.operations, first.completed, first.elections, first.faults) == (
        second.operations,
        second.completed,
        second.elections,
        second.faults,
    )
    assert first.trace_tail == second.trace_tail


def test_different_seeds_give_different_traces() -> None:
    config = SimConfig(nodes=5, steps=200)
    hashes = {run_seed(seed, config).trace_hash for seed in range(1, 6)}
    assert len(hashes) == 5
