"""A small model of what the API server does to the objects the planner writes (tests only).

It exists so the planner's promises can be checked without a cluster: after a plan is applied,
the next plan must be empty even though the API server has defaulted fields, canonicalised
quantities, added metadata and status, and other tools have added labels. The real API server
is exercised by the test bed; this model only has to be at least as unkind as it is.
"""

from __future__ import annotations

import copy
from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.plan import Create, Delete, Observed, PatchStatus, Plan, Update

Key = tuple[str, str]


def _default_pod_spec(pod: dict[str, Any]) -> None:
    pod.setdefault("restartPolicy", "Always")
    pod.setdefault("dnsPolicy", "ClusterFirst")
    pod.setdefault("schedulerName", "default-scheduler")
    for container in pod.get("containers", []):
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                container[probe].setdefault("successThreshold", 1)
        for env in container.get("env", []):
            field = env.get("valueFrom", {}).get("fieldRef")
            if field is not None:
                field.setdefault("apiVersion", "v1")
        memory = container.get("resources", {}).get("limits", {}).get("memory")
        if memory == "4096Mi":  # the API server writes quantities back in canonical form
            container["resources"]["limits"]["memory"] = "4Gi"
            container["resources"]["requests"]["memory"] = "4Gi"


def server_defaults(obj: dict[str, Any], serial: int) -> dict[str, Any]:
    """``obj`` as the API server stores and returns it."""
    result = copy.deepcopy(obj)
    meta = result["metadata"]
    meta.setdefault("uid", f"uid-{serial}")
    meta["resourceVersion"] = str(serial)
    meta.setdefault("creationTimestamp", "2026-03-01T00:00:00Z")
    meta["managedFields"] = [{"manager": "hive-operator", "operation": "Apply"}]
    kind = result["kind"]
    if kind == "Service":
        spec = result["spec"]
        spec.setdefault("clusterIP", "10.96.0.17")
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("internalTrafficPolicy", "Cluster")
    elif kind == "Pod":
        spec = result["spec"]
        _default_pod_spec(spec)
        # Admission adds tolerations to every pod (DefaultTolerationSeconds) and the scheduler a
        # node: a planner comparing pod specs field by field would see a difference forever.
        spec["tolerations"] = [
            *spec.get("tolerations", []),
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ]
        spec["nodeName"] = "node-1"
        result["status"] = {"phase": "Running", "podIP": "10.0.0.9"}
    elif kind == "PersistentVolumeClaim":
        spec = result["spec"]
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("storageClassName", "standard")
        spec["volumeName"] = f"pvc-{serial}"
        result["status"] = {"phase": "Bound"}
    elif kind == "PodDisruptionBudget":
        result["status"] = {
            "currentHealthy": 0,
            "desiredHealthy": 0,
            "disruptionsAllowed": 0,
            "expectedPods": 0,
        }
    return result


class ApiServerModel:
    """Holds the observed objects and applies plans to them."""

    def __init__(self, cluster: HiveCluster) -> None:
        self.cluster = cluster
        self.objects: dict[Key, dict[str, Any]] = {}
        self.serial = 0
        self.writes = 0

    def apply(self, plan: Plan) -> None:
        for action in plan.actions:
            self.writes += 1
            self.serial += 1
            if isinstance(action, Create):
                obj = dict(action.object)
                key = (obj["kind"], obj["metadata"]["name"])
                assert key not in self.objects, f"create of an existing {key}"
                self.objects[key] = server_defaults(obj, self.serial)
            elif isinstance(action, Update) and action.object["kind"] == "Pod":
                # Only a pod's labels and annotations change in place (a merge patch).
                obj = dict(action.object)
                assert "spec" not in obj, "a pod's spec cannot be updated"
                meta = self.objects[("Pod", obj["metadata"]["name"])]["metadata"]
                for part in ("labels", "annotations"):
                    meta.setdefault(part, {}).update(obj["metadata"].get(part) or {})
            elif isinstance(action, Update):
                obj = dict(action.object)
                key = (obj["kind"], obj["metadata"]["name"])
                old = self.objects[key]
                merged = server_defaults(obj, self.serial)
                merged["metadata"]["uid"] = old["metadata"]["uid"]
                # Fields other managers own survive an apply (labels and annotations here).
                for part in ("labels", "annotations"):
                    others = {
                        k: v for k, v in old["metadata"].get(part, {}).items() if k.startswith("other.io/")
                    }
                    merged["metadata"].setdefault(part, {}).update(others)
                self.objects[key] = merged
            elif isinstance(action, Delete):
                del self.objects[(action.kind, action.name)]
            elif isinstance(action, PatchStatus):
                self.cluster = self.cluster.model_copy(update={"status": action.status})

    def observed(self, **extra: Any) -> Observed:
        return Observed(cluster=self.cluster, objects=copy.deepcopy(self.objects), **extra)
