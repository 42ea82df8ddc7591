"""The harness has teeth: each planted Raft bug is caught within a bounded number of seeds.

The vote-persistence and Figure 8 bugs need a crash at just the wrong moment; those cases pin
the fault-point crash rate high (as a BUGGIFY-heavy run would), and the Figure 8 case sends one
entry per message so a follower can acknowledge an old-term entry without the new leader's no-op.
"""

from __future__ import annotations

from typing import Any

import pytest
from hive_sim.planted import PlantedBug
from hive_sim.raft_sim import SimConfig, run_seed

AGGRESSIVE: dict[str, Any] = {"fault_point_crash": 0.6}
# (bug, cluster size, seeds searched, pinned knobs); the section each bug breaks is on PlantedBug.
CASES: list[tuple[PlantedBug, int, int, dict[str, Any]]] = [
    (PlantedBug.GRANT_TWO_VOTES, 3, 100, {}),  # §5.2: at most one vote per term
    (PlantedBug.GRANT_TWO_VOTES, 5, 100, {}),
    (PlantedBug.APPLY_BEFORE_COMMIT, 3, 100, {}),  # §5.3: apply only committed entries
    (PlantedBug.APPLY_BEFORE_COMMIT, 5, 100, {}),
    (PlantedBug.SKIP_PERSIST_VOTE, 3, 600, AGGRESSIVE),  # Figure 2: votedFor is persistent
    (PlantedBug.SKIP_PERSIST_VOTE, 5, 600, AGGRESSIVE),
    # §5.4.2; rarer since the leader counts its own copy only after its fsync (first hit: seed 629)
    (PlantedBug.COMMIT_OLD_TERM_BY_COUNTING, 3, 800, {**AGGRESSIVE, "max_entries_per_message": 1}),
    (PlantedBug.COMMIT_OLD_TERM_BY_COUNTING, 5, 600, {**AGGRESSIVE, "max_entries_per_message": 1}),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("bug", "nodes", "bound", "knobs"), CASES, ids=[f"{case[0].value}-{case[1]}" for case in CASES]
)
def test_planted_bug_is_found(bug: PlantedBug, nodes: int, bound: int, knobs: dict[str, Any]) -> None:
    config = SimConfig(nodes=nodes, steps=600, planted_bugs=frozenset({bug}), **knobs)
    for seed in range(1, bound + 1):
        result = run_seed(seed, config)
        if not result.ok:
            assert result.violation
            return
    pytest.fail(f"{bug.value} survived {bound} seeds")


@pytest.mark.parametrize("knobs", [{}, {**AGGRESSIVE, "max_entries_per_message": 1}])
def test_correct_core_passes_the_same_configurations(knobs: dict[str, Any]) -> None:
    # Control: the same seeds and knobs without a planted bug are clean, so findings are the bug's.
    for seed in range(1, 60):
        result = run_seed(seed, SimConfig(nodes=3, steps=600, **knobs))
        assert result.ok, (seed, result.violation)


@pytest.mark.slow
def test_history_checker_alone_catches_apply_before_commit() -> None:
    # With the direct invariant checks switched off, the client-visible history is still
    # proven non-linearizable: acknowledged writes that never committed get lost (§5.3, §8).
    config = SimConfig(
        nodes=3,
        steps=600,
        planted_bugs=frozenset({PlantedBug.APPLY_BEFORE_COMMIT}),
        check_invariants=False,
        fault_point_crash=0.6,
    )
    for seed in range(1, 101):
        result = run_seed(seed, config)
        if result.violation is not None and result.violation.startswith("linearizability"):
            return
    pytest.fail("the linearizability checker found nothing in 100 seeds")
