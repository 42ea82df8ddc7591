"""Log replication and commitment (Raft paper §5.3, §5.4.2 and Figure 8)."""

from __future__ import annotations

import random

from hive_sim.raft_sim.memory_cluster import MemoryCluster

from hive_runtime.raft import MemoryStorage, Message, MessageType, RaftConfig, RaftNode, Role
from hive_runtime.raft.types import ConfState, Entry, EntryKind, HardState


def _with_log(node_id: int, terms: list[int], *, term: int, voters: tuple[int, ...] = (1, 2, 3)) -> RaftNode:
    storage = MemoryStorage(ConfState(frozenset(voters)))
    storage.append([Entry(t, i) for i, t in enumerate(terms, 1)])
    storage.set_hard_state(HardState(term=term))
    return RaftNode(RaftConfig(node_id=node_id), storage, rng=random.Random(node_id))


def test_proposals_replicate_commit_and_apply_in_order_on_every_node() -> None:
    # §5.3: the leader appends, replicates, commits once a majority stores the entry.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    for value in range(20):
        leader.propose(b"v%d" % value)
    cluster.stabilize()
    cluster.tick(2)
    for node_id in (1, 2, 3):
        data = [e.data for e in cluster.applied[node_id] if e.kind is EntryKind.NORMAL]
        assert data == [b"v%d" % value for value in range(20)]


def test_follower_truncates_conflicting_suffix() -> None:
    # §5.3: "If an existing entry conflicts with a new one, delete the existing entry and all
    # that follow it".
    follower = _with_log(2, [1, 1, 2, 2], term=3)
    entries = (Entry(3, 3), Entry(3, 4), Entry(3, 5))
    follower.step(Message(MessageType.APPEND, 1, 2, 3, log_term=1, index=2, entries=entries, commit=0))
    assert [follower.log.term(i) for i in range(1, 6)] == [1, 1, 3, 3, 3]
    assert follower.ready().messages[0].index == 5


def test_follower_rejects_append_whose_previous_entry_does_not_match() -> None:
    # §5.3 consistency check, with the conflict hint used for fast backtracking.
    follower = _with_log(2, [1, 1, 2, 2, 2, 2], term=4)
    follower.step(Message(MessageType.APPEND, 1, 2, 4, log_term=3, index=6, entries=(Entry(4, 7),)))
    response = follower.ready().messages[0]
    assert response.reject
    # The hint skips the whole term-2 run, not one index at a time.
    assert (response.reject_hint, response.log_term) == (6, 2)


def test_fast_backtracking_resolves_long_divergence_in_few_round_trips() -> None:
    # §5.3 optimisation: a follower with many conflicting entries is repaired in O(terms) probes.
    cluster = MemoryCluster(3, max_entries_per_message=1000)
    cluster.elect(1)
    # Give node 3 a long divergent tail of an old term, written while it was isolated.
    node3 = cluster.nodes[3]
    cluster.storage[3].append([Entry(1, i) for i in range(2, 200)])
    cluster.restart(3)
    node3 = cluster.nodes[3]
    assert node3.log.last_index() == 199
    leader = cluster.nodes[1]
    leader.propose(b"x")
    cluster.stabilize()
    rejections = [m for m in cluster.sent if m.type is MessageType.APPEND_RESP and m.sender == 3 and m.reject]
    assert len(rejections) <= 3
    assert cluster.nodes[3].log.term(cluster.nodes[3].log.last_index()) == leader.term


def test_commit_index_is_min_of_leader_commit_and_last_new_entry() -> None:
    # §5.3 / Figure 2: commitIndex = min(leaderCommit, index of last new entry).
    follower = _with_log(2, [1, 1, 1, 1], term=1)
    follower.step(Message(MessageType.APPEND, 1, 2, 1, log_term=1, index=1, entries=(Entry(1, 2),), commit=4))
    assert follower.log.committed == 2


def test_leader_does_not_commit_previous_term_entry_by_counting_replicas() -> None:
    # §5.4.2 and Figure 8: an entry of an earlier term is committed only indirectly.
    leader = _with_log(1, [1, 2], term=3)
    leader.campaign()
    for voter in (2, 3):
        leader.step(Message(MessageType.PRE_VOTE_RESP, voter, 1, leader.term + 1))
    leader.step(Message(MessageType.VOTE_RESP, 2, 1, leader.term))
    assert leader.role is Role.LEADER and leader.log.last_index() == 3  # no-op at 3
    ready = leader.ready()
    leader.log.storage.append(list(ready.entries))  # type: ignore[attr-defined]
    leader.advance(ready)  # the leader's own no-op is durable
    # Follower 2 now acknowledges index 2 (the term-2 entry) but not the no-op.
    leader.step(Message(MessageType.APPEND_RESP, 2, 1, leader.term, index=2))
    assert leader.log.committed == 0
    leader.step(Message(MessageType.APPEND_RESP, 2, 1, leader.term, index=3))
    assert leader.log.committed == 3


def test_heartbeat_advances_follower_commit_only_to_what_it_matched() -> None:
    # §5.3: followers learn the commit index from the leader, bounded by what they hold.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    cluster.stabilize()
    cluster.tick(1)
    assert all(n.log.committed == leader.log.committed for n in cluster.nodes.values())


def test_stale_append_below_commit_is_acknowledged_with_commit_index() -> None:
    # §5.3: duplicates of old AppendEntries must not truncate committed entries.
    cluster = MemoryCluster(3)
    leader = cluster.elect(1)
    leader.propose(b"a")
    cluster.stabilize()
    follower = cluster.nodes[2]
    committed = follower.log.committed
    follower.step(Message(MessageType.APPEND, 1, 2, leader.term, log_term=0, index=0, entries=()))
    response = follower.ready().messages[-1]
    assert response.index == committed and not response.reject
