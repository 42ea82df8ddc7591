"""Prometheus Operator objects (ServiceMonitor, PrometheusRule) as plain dicts.

Built only when the spec asks for them; the Kubernetes layer checks that their CRDs exist before
applying (the planner reports a missing CRD instead of failing the reconcile).
"""

from __future__ import annotations

from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.specs.meta import metadata, names_of

MONITORING_API = "monitoring.coreos.com/v1"


def _meta(cluster: HiveCluster, name: str) -> dict[str, Any]:
    meta = metadata(cluster, name, "monitoring")
    meta["labels"] = {**cluster.spec.monitoring.labels, **meta["labels"]}
    return meta


def service_monitor(cluster: HiveCluster) -> dict[str, Any]:
    names = names_of(cluster)
    return {
        "apiVersion": MONITORING_API,
        "kind": "ServiceMonitor",
        "metadata": _meta(cluster, names.cluster),
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/instance": names.cluster,
                    "app.kubernetes.io/component": "peers",
                }
            },
            "namespaceSelector": {"matchNames": [names.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "15s", "scheme": "http"}],
        },
    }


def prometheus_rule(cluster: HiveCluster) -> dict[str, Any]:
    names = names_of(cluster)
    scope = f'namespace="{names.namespace}", service="{names.peer_service}"'
    rules = [
        {
            "alert": "HiveNoLeader",
            "expr": f"max(hive_raft_is_leader{{{scope}}}) < 1",
            "for": "30s",
            "labels": {"severity": "critical"},
            "annotations": {"summary": f"HiveCluster {names.cluster} has no Raft leader"},
        },
        {
            "alert": "HiveReplicaLagging",
            "expr": f"max(hive_replication_lag_entries{{{scope}}}) > 10000",
            "for": "2m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": f"a replica of {names.cluster} is more than 10000 entries behind"},
        },
        {
            "alert": "HiveCertificateExpiresSoon",
            "expr": f"min(hive_tls_certificate_expiry_timestamp_seconds{{{scope}}}) - time() < 7 * 86400",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {"summary": f"a certificate of {names.cluster} expires within 7 days"},
        },
        {
            "alert": "HiveKillSwitchActive",
            "expr": f"max(hive_kill_switch_active{{{scope}}}) > 0",
            "labels": {"severity": "critical"},
            "annotations": {"summary": f"the kill switch of {names.cluster} is active"},
        },
    ]
    return {
        "apiVersion": MONITORING_API,
        "kind": "PrometheusRule",
        "metadata": _meta(cluster, names.cluster),
        "spec": {"groups": [{"name": f"hive-{names.cluster}", "rules": rules}]},
    }
