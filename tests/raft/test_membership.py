"""Single-server membership changes and learners (thesis §4.1, §4.2.1, §4.2.2)."""

from __future__ import annotations

import pytest
from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import (
    ConfChange,
    ConfChangeKind,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    Role,
)
from hive_runtime.raft.types import ConfState, decode_conf_entry, encode_conf_entry


def _settle(cluster: MemoryCluster) -> None:
    cluster.stabilize()
    cluster.tick(2)


def test_learner_receives_the_log_but_never_counts_or_votes() -> None:
    # Thesis §4.2.1: non-voting members catch up without affecting availability.
    cluster = MemoryCluster(3, learners=(4,))
    leader = cluster.elect(1)
    leader.propose(b"a")
    _settle(cluster)
    assert [e.data for e in cluster.applied[4] if e.data] == [b"a"]
    # With two voters down, the learner cannot help commit.
    cluster.down.update({2, 3})
    index = leader.propose(b"b")
    _settle(cluster)
    assert leader.log.committed < index
    for _ in range(50):
        cluster.nodes[4].tick()
    assert cluster.nodes[4].role is Role.FOLLOWER


def test_added_voter_counts_as_soon_as_the_change_is_appended() -> None:
    # Thesis §4.1: a server uses the latest configuration in its log, committed or not.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    _settle(cluster)
    cluster.add(4, MemoryStorage())
    leader.propose_conf_change(ConfChange(ConfChangeKind.ADD_LEARNER, 4))
    assert leader.conf.learners == {4}
    _settle(cluster)
    leader.propose_conf_change(ConfChange(ConfChangeKind.ADD_VOTER, 4))
    assert leader.conf.voters == {1, 2, 3, 4}  # effective on append, before commit
    _settle(cluster)
    assert cluster.nodes[4].conf.voters == {1, 2, 3, 4}
    # Majority of four is three: with two nodes down nothing commits.
    cluster.down.update({3, 4})
    index = leader.propose(b"x")
    _settle(cluster)
    assert leader.log.committed < index


def test_only_one_membership_change_at_a_time() -> None:
    # Thesis §4.1: a new change may start only after the previous one committed.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    _settle(cluster)
    cluster.down.update({2, 3})
    leader.propose_conf_change(ConfChange(ConfChangeKind.ADD_LEARNER, 4))
    with pytest.raises(ProposalDropped):
        leader.propose_conf_change(ConfChange(ConfChangeKind.ADD_LEARNER, 5))


def test_leader_must_commit_in_its_term_before_changing_membership() -> None:
    # The single-server change fix (Ongaro, raft-dev 2015; thesis errata for §4.1).
    cluster = MemoryCluster(3)
    node = cluster.nodes[1]
    node.campaign_start(pre_vote=False)
    node.step(Message(MessageType.VOTE_RESP, 2, 1, node.term))
    assert node.role is Role.LEADER and node.log.committed == 0  # its no-op is not committed yet
    with pytest.raises(ProposalDropped):
        node.propose_conf_change(ConfChange(ConfChangeKind.ADD_LEARNER, 4))


def test_removed_leader_steps_down_once_the_removal_commits() -> None:
    # Thesis §4.2.2: the leader manages the cluster until C_new commits, then steps down.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    _settle(cluster)
    leader.propose_conf_change(ConfChange(ConfChangeKind.REMOVE, 1))
    assert leader.role is Role.LEADER  # still leading while the change is uncommitted
    _settle(cluster)
    assert leader.role is Role.FOLLOWER
    for _ in range(40):
        cluster.tick()
    new_leader = cluster.leader()
    assert new_leader is not None and new_leader.id in (2, 3)
    assert new_leader.conf.voters == {2, 3}


def test_truncated_config_entry_reverts_the_membership() -> None:
    # Thesis §4.1: if a config entry is removed by log conflict, the previous config applies.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    _settle(cluster)
    cluster.isolate(1)
    leader.propose_conf_change(ConfChange(ConfChangeKind.ADD_LEARNER, 9))
    cluster.stabilize()
    assert leader.conf.learners == {9}
    for _ in range(40):
        cluster.tick()
    new_leader = cluster.leader()
    assert new_leader is not None and new_leader.id != 1
    new_leader.propose(b"overwrite")
    cluster.heal()
    for _ in range(5):
        cluster.tick()
    assert cluster.nodes[1].conf.learners == frozenset()


def test_conf_entry_carries_the_change_and_the_full_membership() -> None:
    # A node joining with an empty log learns the whole membership from one entry (§4.1, §4.2.1).
    change = ConfChange(ConfChangeKind.ADD_VOTER, 7)
    result = ConfState(frozenset({1, 2, 7}), frozenset({9}))
    assert decode_conf_entry(encode_conf_entry(change, result)) == (change, result)
    with pytest.raises(ValueError):
        decode_conf_entry(encode_conf_entry(change, result)[:-3])


def test_learner_ignores_timeout_now() -> None:
    # Thesis §4.2.1: learners never start elections, even when asked to (§3.10).
    cluster = MemoryCluster(3, learners=(4,))
    leader = cluster.elect(1)
    learner = cluster.nodes[4]
    learner.step(Message(MessageType.TIMEOUT_NOW, 1, 4, leader.term))
    assert learner.role is Role.FOLLOWER and learner.term == leader.term
