"""The node's Prometheus metrics, on one registry per node (tests run several nodes per process).

Counters the hot paths keep as plain integers (the driver's leader changes, the trading machine's
decisions by reason) are carried over into Prometheus counters by :meth:`NodeMetrics.sync_counters`
when the node refreshes its gauges, so applying a command costs a dict increment, not a lock.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hive_runtime.trading.types import RejectReason

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


class NodeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.commit_latency = Histogram(
            "hive_commit_latency_seconds",
            "Proposal to applied-and-answered on the leader",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.apply_latency = Histogram(
            "hive_apply_latency_seconds",
            "Time to apply one committed entry (a batch of commands) and answer its proposers",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.fsync_latency = Histogram(
            "hive_fsync_latency_seconds",
            "WAL fdatasync duration",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.term = Gauge("hive_raft_term", "Current Raft term", registry=registry)
        self.is_leader = Gauge("hive_raft_is_leader", "1 on the leader", registry=registry)
        self.leader_changes = Counter("hive_raft_leader_changes", "Leader changes seen", registry=registry)
        self.commit_index = Gauge("hive_raft_commit_index", "Commit index", registry=registry)
        self.applied_index = Gauge("hive_raft_applied_index", "Applied index", registry=registry)
        self.log_entries = Gauge(
            "hive_log_entries", "Entries kept in the log after compaction", registry=registry
        )
        self.snapshot_index = Gauge("hive_snapshot_index", "Index of the newest snapshot", registry=registry)
        self.snapshot_age_entries = Gauge(
            "hive_snapshot_age_entries", "Entries applied since the newest snapshot", registry=registry
        )
        self.replication_lag = Gauge(
            "hive_replication_lag_entries",
            "On the leader: entries a peer is behind the leader's last index",
            ["peer"],
            registry=registry,
        )
        self.orders = Counter(
            "hive_orders",
            "Trading commands applied by this replica, by result (accepted, rejected) and reason",
            ["result", "reason"],
            registry=registry,
        )
        self.kill_switch = Gauge(
            "hive_kill_switch_active", "1 while the global kill switch is on", registry=registry
        )
        self.halted_symbols = Gauge("hive_halted_symbols", "Symbols currently halted", registry=registry)
        self.pinned_core = Gauge(
            "hive_pinned_core", "Core the hot thread is pinned to; -1 when unpinned", registry=registry
        )
        self.capture_fork_seconds = Histogram(
            "hive_state_capture_fork_seconds",
            "Time the event loop spent in fork() to capture the state (digests, snapshots, backups)",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.capture_seconds = Histogram(
            "hive_state_capture_seconds",
            "Fork to result of a background state capture (serialise and hash in the child)",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=registry,
        )
        self.digests_skipped = Counter(
            "hive_digests_skipped",
            "Digest points not recorded because the background captures were all busy",
            registry=registry,
        )
        self.audit_ticks = Counter(
            "hive_audit_ticks",
            "Leader checks that found an audit tick due, by outcome: proposed, or held (clusterVersion "
            "does not admit audit ticks yet)",
            ["outcome"],
            registry=registry,
        )
        self.audit_unsigned_records = Gauge(
            "hive_audit_unsigned_records",
            "Audit records of this replica's chain that no checkpoint covers yet",
            registry=registry,
        )
        self.client_requests = Counter(
            "hive_client_requests",
            "Client requests by kind and result",
            ["kind", "result"],
            registry=registry,
        )
        self._leader_changes_seen = 0
        self._decisions_seen: dict[int, int] = {}

    def sync_counters(self, *, leader_changes: int, decisions: Mapping[int, int]) -> None:
        """Add what the plain counters gained since the last call to the Prometheus counters."""
        if leader_changes > self._leader_changes_seen:
            self.leader_changes.inc(leader_changes - self._leader_changes_seen)
            self._leader_changes_seen = leader_changes
        for reason, count in list(decisions.items()):
            gained = count - self._decisions_seen.get(reason, 0)
            if gained > 0:
                self.orders.labels(*_order_labels(reason)).inc(gained)
                self._decisions_seen[reason] = count


def _order_labels(reason: int) -> tuple[str, str]:
    try:
        name = RejectReason(reason).name.lower()
    except ValueError:
        name = str(reason)
    return ("accepted" if reason == 0 else "rejected"), name
