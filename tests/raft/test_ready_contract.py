"""The Ready/advance contract drivers rely on (etcd-io/raft design; Raft paper §5.1 persistence)."""

from __future__ import annotations

import random

import pytest

from hive_runtime.raft import MemoryStorage, ProposalDropped, RaftConfig, RaftNode, Role
from hive_runtime.raft.types import ConfState, EntryKind
from hive_runtime.sim.memory_cluster import MemoryCluster


def test_new_entries_appear_for_persistence_before_their_commit() -> None:
    # Figure 2: entries reach stable storage before the leader counts acknowledgements.
    node = RaftNode(RaftConfig(node_id=1), MemoryStorage(ConfState(frozenset({1}))), rng=random.Random(1))
    node.campaign()
    ready = node.ready()
    assert [e.kind for e in ready.entries] == [EntryKind.NO_OP]
    assert ready.hard_state is not None and ready.hard_state.commit == 1
    # Single voter: committed right away, delivered for apply in the same Ready after persisting.
    assert [e.index for e in ready.committed_entries] == [1]
    node.advance(ready)
    assert not node.has_ready()
    assert node.log.applied == 1


def test_ready_cannot_be_taken_twice_without_advance() -> None:
    node = RaftNode(RaftConfig(node_id=1), MemoryStorage(ConfState(frozenset({1}))), rng=random.Random(1))
    node.campaign()
    ready = node.ready()
    assert not node.has_ready()
    with pytest.raises(RuntimeError):
        node.ready()
    node.advance(ready)
    with pytest.raises(RuntimeError):
        node.advance(ready)


def test_messages_appended_after_ready_wait_for_the_next_ready() -> None:
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    ready = leader.ready()
    leader.propose(b"b")
    assert [e.data for e in ready.entries] == [b"a"]
    leader.advance(ready)
    follow_up = leader.ready()
    assert [e.data for e in follow_up.entries] == [b"b"]
    assert all(m.type.name == "APPEND" for m in follow_up.messages)


def test_soft_state_changes_are_reported() -> None:
    cluster = MemoryCluster(3)
    leader = cluster.nodes[1]
    leader.campaign()
    ready = leader.ready()
    assert ready.soft_state.role is Role.PRE_CANDIDATE
    leader.advance(ready)


def test_follower_proposal_is_dropped_with_leader_hint() -> None:
    # Thesis §6.2: clients contacting a follower are redirected to the leader.
    cluster = MemoryCluster(3)
    cluster.elect(2)
    with pytest.raises(ProposalDropped) as dropped:
        cluster.nodes[3].propose(b"x")
    assert dropped.value.leader_hint == 2


def test_restart_from_storage_restores_term_vote_log_and_commit() -> None:
    # §5.1 / Figure 2: term, vote and log survive restarts through stable storage.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    for value in range(5):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    before = cluster.nodes[2].status()
    restarted = cluster.restart(2)
    after = restarted.status()
    assert (after.term, after.vote, after.last_index) == (before.term, before.vote, before.last_index)
    assert after.commit >= 1 and after.applied == 0
