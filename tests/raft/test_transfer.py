"""Leadership transfer (thesis §3.10)."""

from __future__ import annotations

import pytest
from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import MessageType, ProposalDropped, Role


def test_transfer_catches_the_target_up_then_sends_timeout_now() -> None:
    # §3.10: the leader brings the target's log up to date, then sends TimeoutNow.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    cluster.down.add(3)
    for value in range(5):
        leader.propose(b"%d" % value)
    cluster.stabilize()
    cluster.down.discard(3)
    leader.transfer_leadership(3)
    with pytest.raises(ProposalDropped):
        leader.propose(b"during transfer")
    cluster.stabilize()
    timeouts = [m for m in cluster.sent if m.type is MessageType.TIMEOUT_NOW]
    assert [m.to for m in timeouts] == [3]
    assert cluster.nodes[3].role is Role.LEADER
    assert leader.role is Role.FOLLOWER and leader.leader_id == 3


def test_transfer_is_aborted_after_an_election_timeout() -> None:
    # §3.10: "if the transfer does not complete within an election timeout, the leader aborts".
    cluster = MemoryCluster(3, check_quorum=False)
    leader = cluster.elect(1)
    cluster.down.add(3)
    leader.propose(b"x")
    cluster.stabilize()
    leader.transfer_leadership(3)
    assert leader.lead_transferee == 3
    for _ in range(11):
        cluster.tick()
    assert leader.lead_transferee is None and leader.role is Role.LEADER
    leader.propose(b"accepted again")


def test_transfer_elections_bypass_the_leader_lease() -> None:
    # §3.10 + §4.2.3: votes for a TimeoutNow candidate are granted despite a recent leader.
    cluster = MemoryCluster(5)
    leader = cluster.elect(1)
    cluster.stabilize()
    leader.transfer_leadership(4)
    cluster.stabilize()
    assert cluster.nodes[4].role is Role.LEADER
    assert cluster.nodes[4].term == leader.term


def test_transfer_to_non_voter_is_rejected() -> None:
    cluster = MemoryCluster(3, learners=(4,))
    leader = cluster.elect(1)
    with pytest.raises(ValueError):
        leader.transfer_leadership(4)
