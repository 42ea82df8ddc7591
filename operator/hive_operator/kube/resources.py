"""Where each kind the operator touches lives in the REST API (no discovery needed for them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str

    @property
    def base(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        path = f"{self.base}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path

    def cluster_path(self) -> str:
        return f"{self.base}/{self.plural}"


RESOURCES = {
    resource.kind: resource
    for resource in (
        Resource("v1", "ServiceAccount", "serviceaccounts"),
        Resource("v1", "ConfigMap", "configmaps"),
        Resource("v1", "Secret", "secrets"),
        Resource("v1", "Service", "services"),
        Resource("v1", "Pod", "pods"),
        Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Resource("cert-manager.io/v1", "Certificate", "certificates"),
        Resource("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors"),
        Resource("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules"),
        Resource("hive.dev/v1alpha1", "HiveCluster", "hiveclusters"),
        Resource("events.k8s.io/v1", "Event", "events"),
    )
}
# Kinds whose CRDs may be missing: read and written only when discovery says they are served.
OPTIONAL = frozenset({"ServiceMonitor", "PrometheusRule", "Certificate"})


def resource(kind: str) -> Resource:
    try:
        return RESOURCES[kind]
    except KeyError:
        raise ValueError(f"the operator does not manage {kind} objects") from None
