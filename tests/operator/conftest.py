"""Shared HiveClusters for the operator's unit tests: a minimal one and one that sets every option."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hive_operator.api import HiveCluster, parse_manifest
from hive_operator.pki import ClusterPki, RotationPolicy, ensure_audit_keys, reconcile_pki
from hive_operator.specs import Membership, OperatorContext, desired_objects, leaf_requests, names_of

NOW = datetime(2026, 3, 1, tzinfo=UTC)
CONTEXT = OperatorContext(namespace="hive-system", pod_labels={"app.kubernetes.io/name": "hive-operator"})


def cluster_manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {
            "name": "alpha",
            "namespace": "prod",
            "uid": "0f7d7a43-1a7e-4c1e-9d57-3d3b0d9c1a11",
            "generation": 1,
        },
        "spec": {"version": "1.2.3", **spec},
    }


FULL_SPEC: dict[str, Any] = {
    "replicas": 5,
    "resources": {"cpu": 4, "memory": "16Gi"},
    "cpuIsolation": {
        "exclusiveCores": True,
        "runtimeClassName": "performance",
        "crioAnnotations": True,
        "nodeSelector": {"node-role.kubernetes.io/trading": ""},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "trading", "effect": "NoSchedule"}
        ],
    },
    "scheduling": {"antiAffinity": "Preferred", "zoneSpread": True},
    "network": {
        "clientFrom": [
            {"podSelector": {"app": "gateway"}, "namespaceSelector": {"team": "trading"}},
            {"cidr": "10.20.0.0/16"},
        ]
    },
    "storage": {"size": "200Gi", "storageClassName": "local-nvme", "retentionPolicy": "Delete"},
    "secrets": [
        {"name": "fix-credentials", "items": [{"key": "password", "path": "fix/password"}]},
        {"name": "market-data"},
    ],
    "backup": {
        "schedule": "*/15 * * * *",
        "destination": {
            "s3": {
                "endpoint": "https://s3.example.com",
                "bucket": "hive-backups",
                "credentialsSecret": {"name": "s3-creds"},
            }
        },
        "encryptionKeySecret": {"name": "backup-key", "key": "key"},
    },
    "image": {"pullSecrets": ["registry"]},
    "monitoring": {"serviceMonitor": True, "prometheusRule": True, "labels": {"release": "prom"}},
}


def parse(manifest: dict[str, Any]) -> HiveCluster:
    return parse_manifest(manifest, HiveCluster)


@pytest.fixture(params=["minimal", "full"])
def cluster(request: pytest.FixtureRequest) -> HiveCluster:
    return parse(cluster_manifest() if request.param == "minimal" else cluster_manifest(**FULL_SPEC))


def policy_of(cluster: HiveCluster) -> RotationPolicy:
    from hive_operator.api.types import parse_duration

    tls = cluster.spec.tls
    return RotationPolicy(
        leaf_duration=parse_duration(tls.duration),
        ca_duration=parse_duration(tls.ca_duration),
        renew_before=parse_duration(tls.renew_before),
    )


def material(cluster: HiveCluster) -> tuple[ClusterPki, dict[str, bytes]]:
    names = names_of(cluster)
    pods = [names.pod(ordinal) for ordinal in range(cluster.spec.replicas)]
    pki = reconcile_pki(
        None,
        requests=leaf_requests(cluster, CONTEXT, pods=cluster.spec.replicas),
        policy=policy_of(cluster),
        now=NOW,
        pods=pods,
        reports={},
        ca_common_name="test CA",
    ).pki
    keys, _ = ensure_audit_keys({}, pods)
    return pki, keys


def build(
    cluster: HiveCluster, with_material: tuple[ClusterPki, dict[str, bytes]] | None = None
) -> list[dict[str, Any]]:
    pki, keys = with_material or material(cluster)
    return desired_objects(
        cluster,
        context=CONTEXT,
        membership=Membership.new_cluster(cluster.spec.replicas),
        pki=pki,
        audit_keys=keys,
    )
