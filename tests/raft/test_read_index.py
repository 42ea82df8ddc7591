"""Linearizable reads via ReadIndex (thesis §6.4)."""

from __future__ import annotations

import pytest
from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import Message, MessageType, ProposalDropped, Role


def test_leader_read_waits_for_a_heartbeat_quorum() -> None:
    # §6.4 step 3: the leader confirms it is still leader by a heartbeat round before reading.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    cluster.stabilize()
    leader.read_index(b"r1")
    assert cluster.read_states[1] == []  # not yet: no quorum acknowledged the heartbeat
    ready = leader.ready()
    heartbeats = [m for m in ready.early_messages if m.type is MessageType.HEARTBEAT]
    assert {m.context for m in heartbeats} == {b"r1"}
    leader.advance(ready)
    cluster.queue.extend(heartbeats)
    cluster.stabilize()
    [state] = cluster.read_states[1]
    assert state.context == b"r1" and state.index == leader.log.committed


def test_isolated_leader_cannot_serve_reads() -> None:
    # §6.4: a deposed leader must not answer from stale state.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    cluster.stabilize()
    cluster.isolate(1)
    leader.read_index(b"stale?")
    for _ in range(3):
        cluster.tick()
    assert cluster.read_states[1] == []


def test_new_leader_defers_reads_until_it_commits_an_entry_of_its_term() -> None:
    # §6.4 step 1: the leader's commit index is current only after its no-op commits.
    cluster = MemoryCluster(3)
    node = cluster.nodes[1]
    node.campaign_start(pre_vote=False)
    node.step(Message(MessageType.VOTE_RESP, 2, 1, node.term))
    assert node.role is Role.LEADER
    node.read_index(b"early")
    assert node.waiting_reads == [(b"early", 1)]
    cluster.stabilize()
    cluster.tick(1)
    assert [s.context for s in cluster.read_states[1]] == [b"early"]
    assert cluster.read_states[1][0].index >= 1


def test_follower_read_is_confirmed_by_the_leader() -> None:
    # §6.4: followers may serve reads after asking the leader for its read index.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    cluster.stabilize()
    cluster.nodes[3].read_index(b"f")
    cluster.stabilize()
    cluster.tick(1)
    [state] = cluster.read_states[3]
    assert state.context == b"f" and state.index == leader.log.committed


def test_read_without_known_leader_is_refused() -> None:
    cluster = MemoryCluster(3)
    with pytest.raises(ProposalDropped):
        cluster.nodes[2].read_index(b"x")
