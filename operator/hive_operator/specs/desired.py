"""Every object a HiveCluster should have, in the order they are created.

Secrets are built from material the caller passes in (the PKI and audit keys as reconciled by
:mod:`hive_operator.pki`), because keys are random: building them here would give a different
object on every call. Everything else is a pure function of the spec and the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.pki import ClusterPki
from hive_operator.specs.config import Membership, config_map
from hive_operator.specs.meta import OperatorContext
from hive_operator.specs.monitoring import prometheus_rule, service_monitor
from hive_operator.specs.network import (
    client_service,
    network_policy,
    peer_service,
    pod_disruption_budget,
    service_account,
)
from hive_operator.specs.secrets import audit_secret, pki_secrets
from hive_operator.specs.workload import statefulset

CREATION_ORDER = (
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "StatefulSet",
    "ServiceMonitor",
    "PrometheusRule",
)


def desired_objects(
    cluster: HiveCluster,
    *,
    context: OperatorContext,
    membership: Membership,
    pki: ClusterPki,
    audit_keys: Mapping[str, bytes],
    pods: int | None = None,
    partition: int = 0,
) -> list[dict[str, Any]]:
    """The desired children of ``cluster``; ``pods`` defaults to ``spec.replicas``."""
    count = cluster.spec.replicas if pods is None else pods
    objects = [
        service_account(cluster),
        config_map(cluster, pods=count, membership=membership),
        *pki_secrets(cluster, pki),
        audit_secret(cluster, audit_keys),
        peer_service(cluster),
        client_service(cluster),
        pod_disruption_budget(cluster),
        network_policy(cluster, context),
        statefulset(cluster, pods=count, partition=partition),
    ]
    if cluster.spec.monitoring.service_monitor:
        objects.append(service_monitor(cluster))
    if cluster.spec.monitoring.prometheus_rule:
        objects.append(prometheus_rule(cluster))
    return objects
