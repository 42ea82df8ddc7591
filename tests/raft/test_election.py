"""Leader election rules (Raft paper §5.2, §5.4.1; thesis §4.2.3, §6.2, §9.6)."""

from __future__ import annotations

import random

from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import MemoryStorage, Message, MessageType, RaftConfig, RaftNode, Role
from hive_runtime.raft.types import ConfState, Entry, HardState


def _node(node_id: int = 1, voters: tuple[int, ...] = (1, 2, 3), **settings: object) -> RaftNode:
    storage = MemoryStorage(ConfState(frozenset(voters)))
    return RaftNode(RaftConfig(node_id=node_id, **settings), storage, rng=random.Random(7))  # type: ignore[arg-type]


def test_election_elects_exactly_one_leader_and_everyone_follows_it() -> None:
    # §5.2: a candidate that wins a majority becomes leader; others learn it from AppendEntries.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    assert leader.role is Role.LEADER
    cluster.tick(2)
    assert [n.leader_id for n in cluster.nodes.values()] == [1, 1, 1]
    assert {n.term for n in cluster.nodes.values()} == {leader.term}


def test_follower_times_out_within_randomized_election_timeout() -> None:
    # §5.2: election timeouts are chosen randomly from [T, 2T) using the injected generator.
    node = _node(pre_vote=False)
    assert 10 <= node.randomized_election_timeout < 20
    for _ in range(node.randomized_election_timeout - 1):
        node.tick()
    assert node.role is Role.FOLLOWER
    node.tick()
    assert node.role is Role.CANDIDATE and node.term == 1 and node.vote == 1


def test_randomized_timeouts_come_only_from_the_injected_generator() -> None:
    # §5.2 randomization is reproducible: the same seed gives the same timeouts.
    first = [_node(i).randomized_election_timeout for i in (1, 2, 3)]
    second = [_node(i).randomized_election_timeout for i in (1, 2, 3)]
    assert first == second


def test_a_node_grants_at_most_one_vote_per_term() -> None:
    # §5.2: "each server will vote for at most one candidate in a given term".
    node = _node(1)
    node.step(Message(MessageType.VOTE, 2, 1, 5, log_term=0, index=0))
    node.step(Message(MessageType.VOTE, 3, 1, 5, log_term=0, index=0))
    responses = [m for m in node.ready().messages if m.type is MessageType.VOTE_RESP]
    assert [(m.to, m.reject) for m in responses] == [(2, False), (3, True)]
    assert node.vote == 2


def test_vote_is_refused_to_a_candidate_with_a_stale_log() -> None:
    # §5.4.1: a voter denies its vote if its own log is more up to date.
    storage = MemoryStorage(ConfState(frozenset({1, 2, 3})))
    storage.append([Entry(1, 1), Entry(2, 2)])
    storage.set_hard_state(HardState(term=2))
    node = RaftNode(RaftConfig(node_id=1), storage, rng=random.Random(1))
    node.step(Message(MessageType.VOTE, 2, 1, 3, log_term=1, index=5))  # older last term
    node.step(Message(MessageType.VOTE, 3, 1, 3, log_term=2, index=1))  # same term, shorter
    assert [m.reject for m in node.ready().messages] == [True, True]
    assert node.vote is None


def test_vote_is_in_the_hard_state_of_the_ready_that_carries_the_response() -> None:
    # Figure 2 "persistent state": the vote must be durable before the response is sent.
    node = _node(1)
    node.step(Message(MessageType.VOTE, 2, 1, 4, log_term=0, index=0))
    ready = node.ready()
    assert ready.hard_state is not None and ready.hard_state.vote == 2 and ready.hard_state.term == 4
    assert ready.must_sync and ready.messages[0].type is MessageType.VOTE_RESP


def test_pre_vote_does_not_disturb_terms() -> None:
    # Thesis §9.6: a pre-candidate asks with term+1 but changes no one's term or vote.
    cluster = MemoryCluster(3)
    cluster.elect(1)
    term = cluster.nodes[1].term
    cluster.isolate(3)
    for _ in range(40):
        cluster.tick()
    assert cluster.nodes[3].role is Role.PRE_CANDIDATE
    assert cluster.nodes[3].term == term
    cluster.heal()
    cluster.tick(3)
    assert cluster.nodes[1].role is Role.LEADER and cluster.nodes[1].term == term


def test_without_pre_vote_a_rejoining_node_disrupts_the_leader() -> None:
    # Contrast for §9.6: without pre-vote the isolated node's inflated term deposes the leader.
    cluster = MemoryCluster(3, pre_vote=False, check_quorum=False)
    cluster.elect(1)
    term = cluster.nodes[1].term
    cluster.isolate(3)
    for _ in range(40):
        cluster.tick()
    assert cluster.nodes[3].term > term
    cluster.heal()
    cluster.tick(30)
    assert max(n.term for n in cluster.nodes.values() if n.role is Role.LEADER) > term


def test_check_quorum_leader_steps_down_when_it_loses_the_majority() -> None:
    # Thesis §6.2: a leader that hears from no majority for an election timeout steps down.
    cluster = MemoryCluster(3)
    cluster.elect(1)
    cluster.isolate(1)
    for _ in range(25):
        cluster.tick()
    assert cluster.nodes[1].role is not Role.LEADER


def test_leader_lease_ignores_disruptive_vote_requests() -> None:
    # Thesis §4.2.3: a server that heard from a leader within the minimum election timeout
    # ignores RequestVote with a higher term.
    cluster = MemoryCluster(3)
    cluster.elect(1)
    follower = cluster.nodes[2]
    term = follower.term
    follower.step(Message(MessageType.VOTE, 3, 2, term + 1, log_term=9, index=99))
    assert follower.term == term and not follower.messages


def test_candidate_steps_down_on_append_from_leader_of_same_term() -> None:
    # §5.2: a candidate receiving AppendEntries from a legitimate leader returns to follower.
    node = _node(1, pre_vote=False)
    node.campaign()
    assert node.role is Role.CANDIDATE
    node.step(Message(MessageType.APPEND, 2, 1, node.term, log_term=0, index=0))
    assert node.role is Role.FOLLOWER and node.leader_id == 2


def test_higher_term_response_makes_leader_step_down() -> None:
    # §5.1: a server that sees a larger term updates its term and becomes follower.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.step(Message(MessageType.APPEND_RESP, 2, 1, leader.term + 3, index=0))
    assert leader.role is Role.FOLLOWER and leader.term > 1


def test_single_voter_elects_itself_immediately() -> None:
    node = _node(1, voters=(1,))
    node.campaign()
    assert node.role is Role.LEADER
