"""Identity and reachability of the runtime pods: ServiceAccount, Services, NetworkPolicy, PDB.

The headless peer Service publishes not-ready addresses, because replicas must find each other
to elect a leader before any of them is Ready. The NetworkPolicy opens the peer port only between
the cluster's own pods and the admin port only to the operator's pods; the client port follows the
spec's selectors, and the plain-HTTP probe and metrics ports (no secrets on them) stay open.
"""

from __future__ import annotations

from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.api.network import NetworkPeer
from hive_operator.specs.meta import PORTS, OperatorContext, metadata, names_of, selector_labels


def service_account(cluster: HiveCluster) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(cluster, names_of(cluster).service_account, "runtime"),
        "automountServiceAccountToken": False,
    }


def _service_port(name: str) -> dict[str, Any]:
    return {"name": name, "port": PORTS[name], "targetPort": name, "protocol": "TCP"}


def peer_service(cluster: HiveCluster) -> dict[str, Any]:
    """Headless: gives each pod ``<pod>.<cluster>-peers.<ns>.svc``, Ready or not."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, names_of(cluster).peer_service, "peers"),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector_labels(cluster),
            "ports": [_service_port(name) for name in ("peer", "client", "admin", "metrics")],
        },
    }


def client_service(cluster: HiveCluster) -> dict[str, Any]:
    """Where clients connect: any Ready replica (followers redirect writes to the leader)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(cluster, names_of(cluster).client_service, "client"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(cluster),
            "ports": [_service_port("client")],
        },
    }


def pod_disruption_budget(cluster: HiveCluster) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(cluster, names_of(cluster).policy, "runtime"),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(cluster)}},
    }


def _peer(peer: NetworkPeer) -> dict[str, Any]:
    if peer.cidr is not None:
        return {"ipBlock": {"cidr": peer.cidr}}
    entry: dict[str, Any] = {"podSelector": {"matchLabels": dict(peer.pod_selector or {})}}
    if peer.namespace_selector is not None:
        entry["namespaceSelector"] = {"matchLabels": dict(peer.namespace_selector)}
    return entry


def _ports(*names: str) -> list[dict[str, Any]]:
    return [{"port": PORTS[name], "protocol": "TCP"} for name in names]


def network_policy(cluster: HiveCluster, context: OperatorContext) -> dict[str, Any]:
    members = {"podSelector": {"matchLabels": selector_labels(cluster)}}
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": context.namespace}},
        "podSelector": {"matchLabels": dict(context.pod_labels)},
    }
    clients = [_peer(peer) for peer in cluster.spec.network.client_from] or [{"podSelector": {}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(cluster, names_of(cluster).policy, "runtime"),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(cluster)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [members], "ports": _ports("peer")},
                {"from": [operator], "ports": _ports("admin", "client")},
                {"from": clients, "ports": _ports("client")},
                {"ports": _ports("probe", "metrics")},
            ],
        },
    }
