"""The operator's own Prometheus metrics, in a registry of its own (served by ``hive operator run``).

Labels name clusters and kinds of calls, never anything derived from a secret.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from hive_operator.api import HiveClusterStatus
from hive_operator.api.status import ConditionStatus, ConditionType


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            "hive_operator_reconciles_total",
            "Reconciles run, by trigger",
            ["trigger"],
            registry=self.registry,
        )
        self.errors = Counter(
            "hive_operator_reconcile_errors_total",
            "Reconciles that failed (retried later), by error type",
            ["error"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "hive_operator_reconcile_duration_seconds",
            "Time of one reconcile once it runs: read, ask the runtime, plan, write (queue wait excluded)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10),
            registry=self.registry,
        )
        self.queued = Histogram(
            "hive_operator_reconcile_queue_seconds",
            "Time a reconcile waited for a worker and for its cluster's lock before it began",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.writes = Counter(
            "hive_operator_api_writes_total",
            "Write calls made to the Kubernetes API, by call",
            ["call"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "hive_operator_cluster_ready",
            "1 when the HiveCluster's Ready condition is True",
            ["namespace", "cluster"],
            registry=self.registry,
        )
        self.unreachable = Gauge(
            "hive_operator_members_unreachable",
            "Runtime pods whose admin API did not answer in the last reconcile",
            ["namespace", "cluster"],
            registry=self.registry,
        )
        self.certificate_expiry = Gauge(
            "hive_operator_certificate_expiry_timestamp_seconds",
            "When the cluster's certificates expire (ca; leaf: the earliest leaf)",
            ["namespace", "cluster", "certificate"],
            registry=self.registry,
        )

    def observe_status(self, namespace: str, cluster: str, status: HiveClusterStatus) -> None:
        ready = next((c for c in status.conditions if c.type == ConditionType.READY.value), None)
        self.ready.labels(namespace, cluster).set(
            1 if ready is not None and ready.status is ConditionStatus.TRUE else 0
        )
        certificates = status.certificates
        if certificates is None:
            return
        for label, value in (("ca", certificates.ca_not_after), ("leaf", certificates.leaf_not_after)):
            if value:
                moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
                self.certificate_expiry.labels(namespace, cluster, label).set(moment.timestamp())

    def forget(self, namespace: str, cluster: str) -> None:
        for gauge in (self.ready, self.unreachable):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, cluster)
        for label in ("ca", "leaf"):
            with contextlib.suppress(KeyError):
                self.certificate_expiry.remove(namespace, cluster, label)
