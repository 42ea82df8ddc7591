"""Defaults the API server fills into built-in kinds on create, and status reset rules.

Only the defaults that clients observe and rely on are filled (pod phase, restart policy and grace
period, namespace finalizers and phase, service type and cluster IP, StatefulSet strategy, secret
type and ``stringData``); everything else is stored as sent.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from hive_testbed.api.resources import ResourceType

_cluster_ips = itertools.count(2)


def _allocate_cluster_ip() -> str:
    """Service IPs are loopback addresses too (127.0.20.2 onwards), so the node's proxy can serve them."""
    number = next(_cluster_ips)
    return f"127.0.{20 + (number >> 8)}.{number & 0xFF}"


def apply_create_defaults(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Fill defaults into a new object (in place)."""
    spec = obj.setdefault("spec", {}) if rtype.kind in _KINDS_WITH_SPEC else obj.get("spec")
    match (rtype.group, rtype.kind):
        case ("", "Pod"):
            assert spec is not None
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            for container in spec.get("containers") or []:
                container.setdefault("imagePullPolicy", "IfNotPresent")
                for port in container.get("ports") or []:
                    port.setdefault("protocol", "TCP")
            obj["status"] = {"phase": "Pending", "qosClass": _qos_class(spec)}
        case ("", "Namespace"):
            assert spec is not None
            spec.setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        case ("", "Service"):
            assert spec is not None
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if "clusterIP" not in spec:
                spec["clusterIP"] = _allocate_cluster_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            obj["status"] = {"loadBalancer": {}}
        case ("apps", "StatefulSet"):
            assert spec is not None
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy.setdefault("type", "RollingUpdate")
                strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault(
                "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
            )
            obj["status"] = {"replicas": 0, "availableReplicas": 0}
        case ("apps", "Deployment") | ("apps", "ReplicaSet"):
            assert spec is not None
            spec.setdefault("replicas", 1)
            obj["status"] = {}
        case ("", "Secret"):
            obj.setdefault("type", "Opaque")
        case ("", "PersistentVolumeClaim"):
            obj["status"] = {"phase": "Pending"}
        case ("policy", "PodDisruptionBudget"):
            obj["status"] = {
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "disruptionsAllowed": 0,
                "expectedPods": 0,
            }
        case _:
            if rtype.has_status:
                obj.pop("status", None)


def normalize_on_write(rtype: ResourceType, obj: dict[str, Any]) -> None:
    """Conversions the API server does on every write (currently: Secret ``stringData`` into ``data``)."""
    if rtype.group == "" and rtype.kind == "Secret" and "stringData" in obj:
        data = obj.setdefault("data", {}) or {}
        for key, value in (obj.pop("stringData") or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


def _qos_class(spec: dict[str, Any]) -> str:
    containers = spec.get("containers") or []
    if not containers:
        return "BestEffort"
    guaranteed = True
    best_effort = True
    for container in containers:
        resources = container.get("resources") or {}
        requests = resources.get("requests") or {}
        limits = resources.get("limits") or {}
        if requests or limits:
            best_effort = False
        for name in ("cpu", "memory"):
            if name not in limits or (name in requests and requests[name] != limits[name]):
                guaranteed = False
    if best_effort:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


_KINDS_WITH_SPEC = frozenset({"Pod", "Namespace", "Service", "StatefulSet", "Deployment", "ReplicaSet"})
