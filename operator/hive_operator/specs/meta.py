"""Names, labels, owner references, ports and file paths shared by every builder.

One place decides what each child object of a HiveCluster is called and where each file lands in
a runtime pod, so the builders, the planner and (later) the Kubernetes layer cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hive_operator.api import API_VERSION, HiveCluster
from hive_runtime.config import ListenAddresses

_LISTEN = ListenAddresses()
PORTS: dict[str, int] = {
    "peer": _LISTEN.peer.port,
    "client": _LISTEN.client.port,
    "admin": _LISTEN.admin.port,
    "probe": _LISTEN.probe.port,
    "metrics": _LISTEN.metrics.port,
}

CONFIG_DIR = "/etc/hive/config"
TLS_DIR = "/var/run/hive/tls"
AUDIT_DIR = "/var/run/hive/audit"
BACKUP_KEY_DIR = "/var/run/hive/backup-key"
SECRETS_DIR = "/var/run/hive/secrets"
DATA_MOUNT = "/var/lib/hive"
DATA_DIR = f"{DATA_MOUNT}/data"
TMP_DIR = "/tmp"
BACKUP_KEY_FILE = "backup.key"

RUNTIME_UID = 10001
FIELD_MANAGER = "hive-operator"
CLUSTER_LABEL = "hive.dev/cluster"


@dataclass(frozen=True)
class OperatorContext:
    """Facts about the operator deployment the builders need (not part of any HiveCluster)."""

    namespace: str = "hive-system"
    pod_labels: dict[str, str] = field(default_factory=lambda: {"app.kubernetes.io/name": "hive-operator"})
    identity_name: str = "hive-operator"
    cluster_domain: str = "cluster.local"


@dataclass(frozen=True)
class Names:
    """Every child object's name for one HiveCluster."""

    cluster: str
    namespace: str

    @property
    def service_account(self) -> str:
        return f"{self.cluster}-runtime"

    @property
    def peer_service(self) -> str:
        return f"{self.cluster}-peers"

    @property
    def client_service(self) -> str:
        return self.cluster

    @property
    def config_map(self) -> str:
        return f"{self.cluster}-config"

    @property
    def ca_secret(self) -> str:
        return f"{self.cluster}-ca"

    @property
    def operator_tls_secret(self) -> str:
        return f"{self.cluster}-operator-tls"

    @property
    def policy(self) -> str:
        return self.cluster

    def pod(self, ordinal: int) -> str:
        return f"{self.cluster}-{ordinal}"

    def pod_tls_secret(self, ordinal: int) -> str:
        """The pod's own certificate and key (and the trust bundle): mounted in that pod only."""
        return f"{self.pod(ordinal)}-tls"

    def pod_audit_secret(self, ordinal: int) -> str:
        """The pod's own audit signing key: mounted in that pod only."""
        return f"{self.pod(ordinal)}-audit"

    def data_claim(self, ordinal: int) -> str:
        """The pod's data volume (the name a StatefulSet would give it, ``data-<pod>``)."""
        return f"data-{self.pod(ordinal)}"

    def ordinal_of(self, pod: str) -> int | None:
        """The ordinal of one of this cluster's pod names (None for any other name)."""
        prefix = f"{self.cluster}-"
        rest = pod.removeprefix(prefix)
        if rest == pod or not rest.isdigit() or (rest != "0" and rest.startswith("0")):
            return None
        return int(rest)

    def pod_dns_names(self, ordinal: int, *, cluster_domain: str) -> tuple[str, ...]:
        """Names a pod answers to: its own under the headless Service, and the client Service's."""
        pod = self.pod(ordinal)
        peers = f"{pod}.{self.peer_service}.{self.namespace}.svc"
        client = f"{self.client_service}.{self.namespace}.svc"
        return (
            pod,
            f"{pod}.{self.peer_service}",
            peers,
            f"{peers}.{cluster_domain}",
            client,
            f"{client}.{cluster_domain}",
        )


def names_of(cluster: HiveCluster) -> Names:
    return Names(
        cluster=_required(cluster.metadata.name, "name"),
        namespace=_required(cluster.metadata.namespace, "namespace"),
    )


def _required(value: str | None, what: str) -> str:
    if not value:
        raise ValueError(f"the HiveCluster has no metadata.{what}")
    return value


def selector_labels(cluster: HiveCluster) -> dict[str, str]:
    """Labels that select the runtime pods: stable for the life of the cluster."""
    return {
        "app.kubernetes.io/name": "hive",
        "app.kubernetes.io/instance": names_of(cluster).cluster,
        "app.kubernetes.io/component": "runtime",
    }


def labels(cluster: HiveCluster, component: str) -> dict[str, str]:
    """The labels every child object carries."""
    return {
        "app.kubernetes.io/name": "hive",
        "app.kubernetes.io/instance": names_of(cluster).cluster,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "hive",
        "app.kubernetes.io/managed-by": FIELD_MANAGER,
        "app.kubernetes.io/version": cluster.spec.version,
        CLUSTER_LABEL: names_of(cluster).cluster,
    }


def owner_reference(cluster: HiveCluster) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "HiveCluster",
        "name": names_of(cluster).cluster,
        "uid": _required(cluster.metadata.uid, "uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(cluster: HiveCluster, name: str, component: str, **extra: Any) -> dict[str, Any]:
    names = names_of(cluster)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": names.namespace,
        "labels": labels(cluster, component),
        "ownerReferences": [owner_reference(cluster)],
    }
    meta.update(extra)
    return meta
