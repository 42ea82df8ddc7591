"""Property test: random schedules of ticks, lost/duplicated/reordered messages, proposals and
restarts never break Raft's safety properties (paper Figure 3: election safety, log matching,
leader completeness, state machine safety). Hypothesis shrinks any failure to a short schedule."""

from __future__ import annotations

import contextlib

from hive_sim.raft_sim.invariants import SafetyMonitor
from hive_sim.raft_sim.memory_cluster import MemoryCluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_runtime.raft import ProposalDropped, Role

actions = st.lists(
    st.tuples(
        st.sampled_from(
            ["tick"] * 3 + ["deliver"] * 8 + ["flush"] * 2 + ["drop", "duplicate", "propose", "restart"]
        ),
        st.integers(0, 7),
    ),
    min_size=150,
    max_size=400,
)


def _check(cluster: MemoryCluster, monitor: SafetyMonitor, applied_upto: dict[int, int]) -> None:
    for node_id, node in cluster.nodes.items():
        if node.role is Role.LEADER and monitor.leaders.get(node.term) != node_id:
            monitor.on_leader(node)
        entries = cluster.applied[node_id]
        for entry in entries[applied_upto[node_id] :]:
            monitor.on_apply(node_id, entry)
        applied_upto[node_id] = len(entries)
    monitor.check_log_matching(list(cluster.nodes.values()))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=actions, seed=st.integers(0, 1000))
def test_random_schedules_preserve_safety(schedule: list[tuple[str, int]], seed: int) -> None:
    cluster = MemoryCluster(3, seed=seed, election_ticks=3)
    monitor = SafetyMonitor()
    applied_upto = dict.fromkeys(cluster.nodes, 0)
    for action, argument in schedule:
        queue = cluster.queue
        node_id = argument % 3 + 1
        if action == "tick":
            for ticking in sorted(cluster.nodes):
                cluster.nodes[ticking].tick()
                cluster.process(ticking)
        elif action == "flush":
            cluster.stabilize(max_messages=30)
        elif action in ("deliver", "drop", "duplicate") and queue:
            queue.rotate(-(argument % len(queue)))  # reorder: pick any pending message
            message = queue.popleft()
            if action == "duplicate":
                queue.append(message)
            if action != "drop":
                cluster.nodes[message.to].step(message)
                cluster.process(message.to)
        elif action == "propose":
            with contextlib.suppress(ProposalDropped):
                cluster.nodes[node_id].propose(b"v")
            cluster.process(node_id)
        elif action == "restart":
            # Storage holds exactly what was persisted (process() persists before sending).
            cluster.restart(node_id)
            cluster.applied[node_id] = []
            applied_upto[node_id] = 0
        _check(cluster, monitor, applied_upto)
