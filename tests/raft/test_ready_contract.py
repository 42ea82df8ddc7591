"""The Ready/advance contract drivers rely on (etcd-io/raft design; Raft paper §5.1 persistence)."""

from __future__ import annotations

import random

import pytest
from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import MemoryStorage, ProposalDropped, RaftConfig, RaftNode, Role
from hive_runtime.raft.types import ConfState, EntryKind


def test_new_entries_appear_for_persistence_before_their_commit() -> None:
    # Figure 2: entries reach stable storage before the leader counts its own copy.
    storage = MemoryStorage(ConfState(frozenset({1})))
    node = RaftNode(RaftConfig(node_id=1), storage, rng=random.Random(1))
    node.campaign()
    ready = node.ready()
    assert [e.kind for e in ready.entries] == [EntryKind.NO_OP]
    storage.append(list(ready.entries))
    # Single voter: the no-op commits only once advance() reports it durable.
    assert ready.committed_entries == ()
    assert node.log.committed == 0
    node.advance(ready)
    assert node.log.committed == 1
    follow_up = node.ready()
    assert [e.index for e in follow_up.committed_entries] == [1]
    assert follow_up.entries == ()
    node.advance(follow_up)
    assert not node.has_ready()
    assert node.log.applied == 1


def test_leader_appends_are_early_messages_and_acks_are_not() -> None:
    # Thesis §10.2.1: the leader may replicate while its own fsync runs; a follower's
    # acknowledgement promises durability, so it waits for the fsync.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    ready = leader.ready()
    assert [m.type.name for m in ready.early_messages] == ["APPEND", "APPEND"]
    assert ready.messages == ()
    follower = cluster.nodes[2]
    follower.step(ready.early_messages[0])
    follower_ready = follower.ready()
    assert follower_ready.early_messages == ()
    assert [m.type.name for m in follower_ready.messages] == ["APPEND_RESP"]


def test_leader_counts_itself_only_after_advance() -> None:
    # One follower's ack is not a majority of three until the leader's own copy is durable.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    index = leader.propose(b"a")
    ready = leader.ready()
    follower = cluster.nodes[2]
    follower.step(ready.early_messages[0])
    ack = follower.ready()
    follower.advance(ack)
    leader.step(ack.messages[0])
    assert leader.log.committed < index  # leader's fsync still in flight
    cluster.storage[1].append(list(ready.entries))
    leader.advance(ready)
    assert leader.log.committed == index


def test_two_follower_acks_commit_without_the_leaders_copy() -> None:
    # A majority of durable copies is enough, whether or not it includes the leader.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    index = leader.propose(b"a")
    ready = leader.ready()
    for position, follower_id in enumerate((2, 3)):
        follower = cluster.nodes[follower_id]
        follower.step(ready.early_messages[position])
        ack = follower.ready()
        follower.advance(ack)
        leader.step(ack.messages[0])
    assert leader.log.committed == index


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
    assert all(m.type.name == "APPEND" for m in follow_up.early_messages)


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
