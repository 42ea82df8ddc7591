"""The simulator's direct checks of Raft's safety properties (paper Figure 3) detect violations."""

from __future__ import annotations

import random

import pytest
from hive_sim.raft_sim.invariants import SafetyMonitor, SafetyViolationFound

from hive_runtime.raft import MemoryStorage, RaftConfig, RaftNode
from hive_runtime.raft.types import ConfState, Entry, HardState, Role


def _node(node_id: int, terms: list[int], term: int) -> RaftNode:
    storage = MemoryStorage(ConfState(frozenset({1, 2, 3})))
    storage.append([Entry(t, i, data=b"%d" % t) for i, t in enumerate(terms, 1)])
    storage.set_hard_state(HardState(term=term))
    return RaftNode(RaftConfig(node_id=node_id), storage, rng=random.Random(node_id))


def test_two_leaders_in_one_term_violate_election_safety() -> None:
    # §5.2 Election Safety.
    monitor = SafetyMonitor()
    first, second = _node(1, [1], 2), _node(2, [1], 2)
    first.role = second.role = Role.LEADER
    monitor.on_leader(first)
    with pytest.raises(SafetyViolationFound, match="election safety"):
        monitor.on_leader(second)


def test_different_entries_applied_at_one_index_violate_state_machine_safety() -> None:
    # §5.4.3 State Machine Safety.
    monitor = SafetyMonitor()
    monitor.on_apply(1, Entry(1, 1, data=b"a"))
    with pytest.raises(SafetyViolationFound):
        monitor.on_apply(2, Entry(2, 1, data=b"b"))


def test_leader_missing_a_committed_entry_violates_leader_completeness() -> None:
    # §5.4 Leader Completeness.
    monitor = SafetyMonitor()
    monitor.on_commit(1, 2, 1)
    with pytest.raises(SafetyViolationFound, match="leader completeness"):
        monitor.on_leader(_node(3, [1], 4))


def test_divergent_prefix_under_a_shared_entry_violates_log_matching() -> None:
    # §5.3 Log Matching: same (index, term) implies identical preceding entries.
    monitor = SafetyMonitor()
    good_a, good_b = _node(1, [1, 1, 2], 2), _node(2, [1, 1, 2], 2)
    monitor.check_log_matching([good_a, good_b])
    bad = _node(3, [1, 3, 2], 3)
    with pytest.raises(SafetyViolationFound, match="log matching"):
        monitor.check_log_matching([good_a, bad])
