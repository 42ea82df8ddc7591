"""Simulated disk (unsynced tail lost on crash) and network partitions."""

from __future__ import annotations

import random

from hive_sim.raft_sim.driver import SimNode
from hive_sim.raft_sim.network import SimNetwork

from hive_runtime.raft import ConfState, Entry, HardState, MemoryStorage, RaftConfig, Ready, Role, SoftState


def _sim_node(seed: int) -> SimNode:
    node = SimNode(
        1, RaftConfig(node_id=1), MemoryStorage(ConfState(frozenset({1, 2, 3}))), random.Random(seed)
    )
    node.start()
    return node


def test_crash_during_fsync_keeps_only_a_prefix_of_the_write() -> None:
    seen_lengths = set()
    for seed in range(40):
        node = _sim_node(seed)
        ready = Ready(
            soft_state=SoftState(None, Role.FOLLOWER),
            hard_state=HardState(3, 2, 0),
            entries=(Entry(1, 1), Entry(2, 2), Entry(3, 3)),
        )
        node.in_flight = ready
        node.crash()
        last = node.disk.last_index()
        seen_lengths.add(last)
        # The hard state (written last) survives only if every entry did.
        if node.disk.hard_state.term == 3:
            assert last == 3
        assert [node.disk.term(i) for i in range(1, last + 1)] == list(range(1, last + 1))
    assert seen_lengths == {0, 1, 2, 3}


def test_completed_fsync_is_durable() -> None:
    node = _sim_node(1)
    ready = Ready(
        soft_state=SoftState(None, Role.FOLLOWER), hard_state=HardState(1, 1, 0), entries=(Entry(1, 1),)
    )
    node.persist(ready)
    node.crash()
    assert node.disk.last_index() == 1 and node.disk.hard_state == HardState(1, 1, 0)


def test_partitions_block_both_directions_and_one_way_blocks_one() -> None:
    network = SimNetwork(random.Random(1))
    network.partition([{1}, {2, 3}])
    assert network.delivery_delays(1, 2) == [] and network.delivery_delays(3, 1) == []
    assert network.delivery_delays(2, 3)
    network.heal()
    network.block_one_way(1, 2)
    assert network.delivery_delays(1, 2) == [] and network.delivery_delays(2, 1)
