"""Every object a HiveCluster should have, in the order they are created.

Secrets are built from material the caller passes in (the PKI and audit keys as reconciled by
:mod:`hive_operator.pki`), because keys are random: building them here would give a different
object on every call. Everything else is a pure function of the spec and the parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.pki import ClusterPki
from hive_operator.specs.certmanager import certificates
from hive_operator.specs.config import Membership, config_digest, config_map, runtime_config_text
from hive_operator.specs.meta import OperatorContext
from hive_operator.specs.monitoring import prometheus_rule, service_monitor
from hive_operator.specs.network import (
    client_service,
    network_policy,
    peer_service,
    pod_disruption_budget,
    service_account,
)
from hive_operator.specs.secrets import audit_secrets, pki_secrets
from hive_operator.specs.workload import data_claim, pod

CREATION_ORDER = (
    "ServiceAccount",
    "ConfigMap",
    "Secret",
    "Certificate",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "PersistentVolumeClaim",
    "Pod",
    "ServiceMonitor",
    "PrometheusRule",
)


def desired_objects(
    cluster: HiveCluster,
    *,
    context: OperatorContext,
    membership: Membership,
    pki: ClusterPki | None,
    audit_keys: Mapping[str, bytes],
    pods: int | None = None,
    pod_ordinals: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The desired children of ``cluster``; ``pods`` (ordinals ``0..pods-1``) defaults to
    ``spec.replicas``. With ``pki`` None (``tls.mode: certManager``) the TLS Secrets are
    cert-manager's to write and cert-manager ``Certificate`` objects ask for them instead.
    ``pod_ordinals`` limits which pods are wanted (default: all), e.g. to those whose certificate
    exists."""
    count = cluster.spec.replicas if pods is None else pods
    tls = (
        pki_secrets(cluster, pki, pods=count)
        if pki is not None
        else certificates(cluster, context, pods=count)
    )
    wanted_pods = range(count) if pod_ordinals is None else pod_ordinals
    objects = [
        service_account(cluster),
        config_map(cluster, pods=count, membership=membership),
        *tls,
        *audit_secrets(cluster, audit_keys, pods=count),
        peer_service(cluster),
        client_service(cluster),
        pod_disruption_budget(cluster),
        network_policy(cluster, context),
        *(data_claim(cluster, ordinal) for ordinal in range(count)),
        *(
            pod(
                cluster,
                ordinal,
                config_digest=config_digest(runtime_config_text(cluster, ordinal, membership)),
            )
            for ordinal in wanted_pods
        ),
    ]
    if cluster.spec.monitoring.service_monitor:
        objects.append(service_monitor(cluster))
    if cluster.spec.monitoring.prometheus_rule:
        objects.append(prometheus_rule(cluster))
    return objects
