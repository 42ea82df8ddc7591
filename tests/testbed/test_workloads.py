"""Workloads on the bed, driven only through kubectl: what a user of a real cluster would try first.

A StatefulSet of ``python3 -m http.server --bind $(POD_IP)`` with a readiness probe and a claim
template gets Ready pods on distinct addresses, a deleted pod comes back with its data, and scaling
gives one bound claim per replica. Scheduling decisions come from the real kube-scheduler: required
anti-affinity over 3 nodes leaves a fourth replica Pending with the scheduler's reason, and node
selectors, taints, topology spread and resource fit are honoured.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from hive_testbed.kubectl import Kubectl, is_ready, ready_pods, wait_for

SLEEPER = ["python3", "-c", "import time; time.sleep(3600)"]


def web_statefulset(replicas: int) -> list[dict[str, Any]]:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080, "name": "http"}]},
    }
    container = {
        "name": "web",
        "image": "python:3.12",
        "command": ["python3", "-m", "http.server", "8080", "--bind", "$(POD_IP)", "--directory", "/data"],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "web",
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}},
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }
    return [service, statefulset]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return bytes(reply.read())


def test_statefulset_of_http_servers_gets_ready_pods_claims_and_survives_deletion(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl.apply(namespace, web_statefulset(2))
    pods = wait_for(lambda: ready_pods(kubectl, namespace, "app=web", 2), seconds=60, what="2 Ready web pods")
    addresses = {p["status"]["podIP"] for p in pods}
    assert len(addresses) == 2, "each pod has its own address"
    assert all(p["status"]["qosClass"] == "BestEffort" for p in pods)  # the API server's own field
    for pod in pods:  # the server really bound its pod address, reachable from the host
        assert b"Directory listing" in _get(f"http://{pod['status']['podIP']}:8080/")

    claims = kubectl.json("get", "pvc", "-n", namespace)["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-web-0", "data-web-1"]
    assert all(c["status"]["phase"] == "Bound" for c in claims)

    # A deleted pod comes back under the same name, on the same claim (its data is still there).
    first = next(p for p in pods if p["metadata"]["name"] == "web-0")
    volume = kubectl.json(
        "get", "pv", next(c["spec"]["volumeName"] for c in claims if c["metadata"]["name"] == "data-web-0")
    )
    assert volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
        "values"
    ] == [first["spec"]["nodeName"]]
    kubectl("delete", "pod", "web-0", "-n", namespace, "--wait=true")

    def back() -> dict[str, Any] | None:
        pod = next((p for p in kubectl.pods(namespace, "app=web") if p["metadata"]["name"] == "web-0"), None)
        return pod if pod and pod["metadata"]["uid"] != first["metadata"]["uid"] and is_ready(pod) else None

    again = wait_for(back, seconds=60, what="web-0 back and Ready")
    assert again["spec"]["nodeName"] == first["spec"]["nodeName"], "the local volume pins it to its node"
    assert again["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data-web-0"

    kubectl("scale", "statefulset/web", "-n", namespace, "--replicas=3")
    pods = wait_for(lambda: ready_pods(kubectl, namespace, "app=web", 3), seconds=60, what="3 Ready web pods")
    assert len({p["status"]["podIP"] for p in pods}) == 3
    claims = kubectl.json("get", "pvc", "-n", namespace)["items"]
    assert len(claims) == 3 and all(c["status"]["phase"] == "Bound" for c in claims)
    assert len({p["spec"]["nodeName"] for p in pods}) >= 2  # spread by the scheduler over several nodes


def _deployment(name: str, replicas: int, pod_spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": 1, **pod_spec},
            },
        },
    }


def _container(**resources: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "python:3.12", "command": SLEEPER}
    if resources:
        container["resources"] = resources
    return container


def _scheduler_reasons(kubectl: Kubectl, namespace: str) -> str:
    return " ".join(e["message"] for e in kubectl.events(namespace) if e["reason"] == "FailedScheduling")


def test_required_anti_affinity_leaves_the_fourth_replica_pending(kubectl: Kubectl, namespace: str) -> None:
    anti_affinity = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "spread"}}, "topologyKey": "kubernetes.io/hostname"}
            ]
        }
    }
    kubectl.apply(
        namespace, [_deployment("spread", 4, {"affinity": anti_affinity, "containers": [_container()]})]
    )

    def settled() -> list[dict[str, Any]] | None:
        pods = kubectl.pods(namespace, "app=spread")
        running = [p for p in pods if p["status"].get("phase") == "Running"]
        return pods if len(pods) == 4 and len(running) == 3 else None

    pods = wait_for(settled, seconds=60, what="3 Running and 1 Pending")
    assert len({p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName")}) == 3
    pending = [p for p in pods if p["status"].get("phase") == "Pending"]
    assert len(pending) == 1 and not pending[0]["spec"].get("nodeName")
    reasons = wait_for(lambda: _scheduler_reasons(kubectl, namespace), what="a FailedScheduling event")
    assert "didn't match pod anti-affinity rules" in reasons


def test_node_selector_taints_topology_spread_and_resource_fit(kubectl: Kubectl, namespace: str) -> None:
    # nodeSelector on the zone label the node agent sets.
    kubectl.apply(
        namespace,
        [
            _deployment(
                "zoned",
                1,
                {"nodeSelector": {"topology.kubernetes.io/zone": "zone-b"}, "containers": [_container()]},
            )
        ],
    )
    zoned = wait_for(lambda: [p for p in kubectl.pods(namespace, "app=zoned") if p["spec"].get("nodeName")])
    assert zoned[0]["spec"]["nodeName"] == "hive-node-1"

    # A taint keeps pods off a node unless they tolerate it.
    kubectl("taint", "nodes", "hive-node-2", "hive.dev/dedicated=trading:NoSchedule")
    try:
        on_two = {"nodeSelector": {"kubernetes.io/hostname": "hive-node-2"}, "containers": [_container()]}
        tolerated = {
            **on_two,
            "tolerations": [
                {"key": "hive.dev/dedicated", "operator": "Equal", "value": "trading", "effect": "NoSchedule"}
            ],
        }
        kubectl.apply(
            namespace, [_deployment("intolerant", 1, on_two), _deployment("tolerant", 1, tolerated)]
        )
        wait_for(
            lambda: [
                p
                for p in kubectl.pods(namespace, "app=tolerant")
                if p["spec"].get("nodeName") == "hive-node-2"
            ]
        )
        reasons = wait_for(
            lambda: "untolerated taint" in _scheduler_reasons(kubectl, namespace),
            what="the taint named as the reason",
        )
        assert reasons
        assert not [p for p in kubectl.pods(namespace, "app=intolerant") if p["spec"].get("nodeName")]
    finally:
        kubectl("taint", "nodes", "hive-node-2", "hive.dev/dedicated=trading:NoSchedule-")

    # Topology spread over zones with DoNotSchedule: one replica per zone.
    spread = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "zonal"}},
            }
        ],
        "containers": [_container()],
    }
    kubectl.apply(namespace, [_deployment("zonal", 3, spread)])

    def three_placed() -> list[dict[str, Any]] | None:
        pods = [p for p in kubectl.pods(namespace, "app=zonal") if p["spec"].get("nodeName")]
        return pods if len(pods) == 3 else None

    placed = wait_for(three_placed, what="3 zonal pods scheduled")
    assert sorted(p["spec"]["nodeName"] for p in placed) == ["hive-node-0", "hive-node-1", "hive-node-2"]

    # Resource fit: more CPU than any node has is refused by the scheduler.
    kubectl.apply(namespace, [_deployment("huge", 1, {"containers": [_container(requests={"cpu": "64"})]})])
    assert wait_for(
        lambda: "Insufficient cpu" in _scheduler_reasons(kubectl, namespace), what="Insufficient cpu"
    )
