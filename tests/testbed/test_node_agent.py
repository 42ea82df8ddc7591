"""The node agent end to end: a StatefulSet of real HTTP server processes on their own pod IPs.

Acceptance of the issue: pods become Ready through their readiness probes and answer on their pod
IPs, resolve their pod DNS names, see their PVC at its mountPath, and a deleted pod comes back
with the same PVC directory. Uses its own test bed (with a node agent) next to the shared one.
"""

from __future__ import annotations

import ipaddress
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_testbed.rawclient import RawClient
from hive_testbed.testbed import TestBedThread

MOUNT = "/tmp/hive-testbed-acceptance-data"
COMMAND = (
    f'echo "$HOSTNAME $(getent hosts $HOSTNAME.web.$NS.svc.cluster.local | cut -d" " -f1)" >> {MOUNT}/boots; '
    f"cd {MOUNT}; exec python3 -m http.server 8080 --bind $POD_IP"
)


WORK = "/tmp/hive-testbed-acceptance-work"
KEEP = "/tmp/hive-testbed-acceptance-keep"
TINY_SERVER = (
    f"echo {{tag}} $TOKEN > {KEEP}/version; trap 'echo term >> {KEEP}/version; exit 0' TERM; "
    "while true; do sleep 0.1; done"
)


@pytest.fixture(scope="module")
def node_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBedThread, RawClient]]:
    workdir = tmp_path_factory.mktemp("node-bed")
    images = {"tiny-server": ["sh", "-c", TINY_SERVER]}
    bed = TestBedThread(
        workdir=workdir, node_root=workdir / "node", restart_backoff=0.2, images=images
    ).start()
    try:
        yield bed, RawClient.from_kubeconfig(bed.kubeconfig)
    finally:
        bed.stop()


def _statefulset() -> dict[str, Any]:
    env = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    container = {
        "name": "http",
        "image": "python:3",
        "command": ["sh", "-c", COMMAND],
        "env": env,
        "ports": [{"containerPort": 8080, "name": "http"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
        "volumeMounts": [
            {"name": "data", "mountPath": MOUNT},
            {"name": "config", "mountPath": "/tmp/hive-tb-cfg"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "serviceName": "web",
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


def _wait(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("not reached in time")


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=2) as response:
        return str(response.read().decode())


def test_statefulset_pods_run_as_processes(node_bed: tuple[TestBedThread, RawClient]) -> None:
    bed, api = node_bed
    ns = "default"
    api.post(
        f"/api/v1/namespaces/{ns}/configmaps", {"metadata": {"name": "web-config"}, "data": {"mode": "a"}}
    )
    api.post(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]},
        },
    )
    client = api.post(
        f"/api/v1/namespaces/{ns}/services",
        {
            "metadata": {"name": "web-client"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    ).body
    api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", _statefulset())
    sts = f"/apis/apps/v1/namespaces/{ns}/statefulsets/web"
    _wait(lambda: api.get(sts).body.get("status", {}).get("readyReplicas") == 2)

    pods = {p["metadata"]["name"]: p for p in api.get(f"/api/v1/namespaces/{ns}/pods")["items"]}
    ips = {name: pod["status"]["podIP"] for name, pod in pods.items()}
    assert len(set(ips.values())) == 2
    assert all(ipaddress.ip_address(ip).is_loopback for ip in ips.values())
    for name, ip in ips.items():
        boots = _fetch(f"http://{ip}:8080/boots")
        assert boots.strip() == f"{name} {ip}"  # its own pod DNS name resolved to its pod IP

    # a ClusterIP service (a loopback address) forwards to the ready pods
    cluster_ip = client["spec"]["clusterIP"]
    assert cluster_ip.startswith("127.0.20.")
    answers = {_fetch(f"http://{cluster_ip}:80/boots").split()[0] for _ in range(4)}
    assert answers == {"web-0", "web-1"}

    # a configMap volume is updated in place
    node = bed.api.node
    assert node is not None
    hosts = (node.root / "pods" / pods["web-0"]["metadata"]["uid"] / "hosts").read_text()
    _wait(
        lambda: (
            sorted(
                line.split()[0]
                for line in (node.root / "pods" / pods["web-0"]["metadata"]["uid"] / "hosts")
                .read_text()
                .splitlines()
                if "web.default.svc.cluster.local" in line.split()[1:2]
            )
            == sorted(ips.values())
        ),
        seconds=5,
    )
    assert f"{ips['web-1']}\tweb-1.web.default.svc.cluster.local" in hosts
    assert f"{cluster_ip}\tweb-client.default.svc.cluster.local" in hosts
    config_file = node.root / "pods" / pods["web-0"]["metadata"]["uid"] / "volumes" / "config" / "mode"
    assert config_file.read_text() == "a"
    api.patch(f"/api/v1/namespaces/{ns}/configmaps/web-config", {"data": {"mode": "b"}})
    _wait(lambda: config_file.read_text() == "b", seconds=5)

    # a deleted pod comes back with the same PVC directory
    old_uid = pods["web-1"]["metadata"]["uid"]
    api.delete(f"/api/v1/namespaces/{ns}/pods/web-1")
    _wait(
        lambda: (
            api.get(f"/api/v1/namespaces/{ns}/pods/web-1").body.get("metadata", {}).get("uid")
            not in (None, old_uid)
        )
    )
    _wait(lambda: api.get(sts).body.get("status", {}).get("readyReplicas") == 2)
    new_ip = api.get(f"/api/v1/namespaces/{ns}/pods/web-1")["status"]["podIP"]
    assert _fetch(f"http://{new_ip}:8080/boots").count("web-1") == 2

    # kubectl-style logs and scale down
    assert api.get(f"/api/v1/namespaces/{ns}/pods/web-0/log").status == 200
    api.patch(f"{sts}/scale", {"spec": {"replicas": 1}})
    _wait(
        lambda: (
            [p["metadata"]["name"] for p in api.get(f"/api/v1/namespaces/{ns}/pods")["items"]] == ["web-0"]
        )
    )
    assert (Path(node.root) / "pvcs" / ns / "data-web-1" / "boots").exists()


def _pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": containers, "terminationGracePeriodSeconds": 1, **spec},
    }


def test_pod_lifecycle_on_the_node(node_bed: tuple[TestBedThread, RawClient]) -> None:
    bed, api = node_bed
    pods = "/api/v1/namespaces/default/pods"
    api.post(
        "/api/v1/namespaces/default/secrets", {"metadata": {"name": "s"}, "stringData": {"token": "tok"}}
    )
    main = {
        "name": "main",
        "image": "registry.example/tiny-server:v7",
        "env": [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}}],
        "readinessProbe": {"exec": {"command": ["test", "-f", f"{WORK}/init"]}, "periodSeconds": 1},
        "resources": {"requests": {"cpu": "1", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "64Mi"}},
        "volumeMounts": [{"name": "work", "mountPath": WORK}, {"name": "keep", "mountPath": KEEP}],
    }
    init = {
        "name": "init",
        "image": "busybox",
        "command": ["sh", "-c", f"echo done > {WORK}/init"],
        "volumeMounts": [{"name": "work", "mountPath": WORK}],
    }
    volumes = [
        {"name": "work", "emptyDir": {}},
        {"name": "keep", "persistentVolumeClaim": {"claimName": "keep"}},
    ]
    api.post(pods, _pod("life", [main], initContainers=[init], volumes=volumes))
    # the exec probe only passes inside the pod's mount namespace, where the init container wrote the file
    _wait(
        lambda: api.get(f"{pods}/life").body.get("status", {}).get("containerStatuses", [{}])[0].get("ready")
    )
    pod = api.get(f"{pods}/life").body
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    node = bed.api.node
    assert node is not None
    keep = node.root / "pvcs" / "default" / "keep" / "version"
    assert keep.read_text() == "v7 tok\n"  # image map with {tag}, secret env
    cpuset = pod["metadata"]["annotations"]["testbed.hive.dev/cpuset"]
    pid = node.pods[pod["metadata"]["uid"]].containers[0].process.pid  # type: ignore[union-attr]
    allowed = next(
        line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if "Cpus_allowed_list" in line
    )
    assert allowed.split()[-1] == cpuset
    if len(os.sched_getaffinity(0)) > 1:
        assert pod["metadata"]["annotations"]["testbed.hive.dev/cpu-exclusive"] == "true"
    api.delete(f"{pods}/life")
    _wait(lambda: api.get(f"{pods}/life").status == 404, seconds=10)
    assert keep.read_text().endswith("term\n")  # SIGTERM reached the process before removal


def test_sigkill_after_grace_and_restart_backoff(node_bed: tuple[TestBedThread, RawClient]) -> None:
    _, api = node_bed
    pods = "/api/v1/namespaces/default/pods"
    stubborn = {
        "name": "main",
        "image": "x",
        "command": ["sh", "-c", f"trap '' TERM; touch {WORK}/trapped; while true; do sleep 0.1; done"],
        "readinessProbe": {"exec": {"command": ["test", "-f", f"{WORK}/trapped"]}, "periodSeconds": 1},
        "volumeMounts": [{"name": "work", "mountPath": WORK}],
    }
    api.post(pods, _pod("stubborn", [stubborn], volumes=[{"name": "work", "emptyDir": {}}]))
    _wait(
        lambda: (api.get(f"{pods}/stubborn").body.get("status", {}).get("containerStatuses") or [{}])[0].get(
            "ready"
        )
    )
    began = time.monotonic()
    api.delete(f"{pods}/stubborn")
    _wait(lambda: api.get(f"{pods}/stubborn").status == 404, seconds=10)
    assert 0.8 < time.monotonic() - began < 5  # waited the 1 s grace period, then SIGKILL

    crashing = {"name": "main", "image": "x", "command": ["sh", "-c", "exit 3"]}
    api.post(pods, _pod("crash", [crashing]))

    def restarts() -> int:
        statuses = api.get(f"{pods}/crash").body.get("status", {}).get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount", 0))

    _wait(lambda: restarts() >= 2, seconds=10)
    api.delete(f"{pods}/crash")


ACCEPTANCE = """
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: acceptance}
spec:
  clusterIP: None
  selector: {app: shop}
  ports: [{port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: shop, namespace: acceptance}
spec:
  serviceName: shop
  replicas: 2
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      terminationGracePeriodSeconds: 3
      containers:
        - name: http
          image: python:3
          command:
            - sh
            - -c
            - >-
              echo boot >> /tmp/hive-tb-shop/boots; cd /tmp/hive-tb-shop;
              exec python3 -m http.server 8080 --bind $POD_IP
          env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
          ports: [{containerPort: 8080, name: http}]
          readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
          volumeMounts: [{name: data, mountPath: /tmp/hive-tb-shop}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""


def test_issue_acceptance_with_kubectl(node_bed: tuple[TestBedThread, RawClient], kubectl_for: Any) -> None:
    """kubectl apply -f crds/, a StatefulSet of HTTP servers, delete a pod, scale (the issue's acceptance)."""
    bed, _ = node_bed
    kubectl = kubectl_for(bed.kubeconfig)
    crds = Path(__file__).resolve().parents[2] / "crds"
    if list(crds.glob("*.yaml")):
        kubectl("apply", "-f", str(crds))
    kubectl("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: acceptance}\n")
    kubectl("apply", "-f", "-", stdin=ACCEPTANCE)
    kubectl("rollout", "status", "statefulset/shop", "-n", "acceptance", "--timeout=30s")
    ip = kubectl("get", "pod", "shop-1", "-n", "acceptance", "-o", "jsonpath={.status.podIP}").stdout
    assert _fetch(f"http://{ip}:8080/boots") == "boot\n"
    kubectl("delete", "pod", "shop-1", "-n", "acceptance")
    _wait(lambda: kubectl("get", "pod", "shop-1", "-n", "acceptance", check=False).returncode == 0)
    kubectl("wait", "--for=condition=Ready", "pod/shop-1", "-n", "acceptance", "--timeout=30s")
    ip = kubectl("get", "pod", "shop-1", "-n", "acceptance", "-o", "jsonpath={.status.podIP}").stdout
    assert _fetch(f"http://{ip}:8080/boots") == "boot\nboot\n"  # same PVC directory
    kubectl("scale", "statefulset/shop", "-n", "acceptance", "--replicas=3")
    kubectl("rollout", "status", "statefulset/shop", "-n", "acceptance", "--timeout=30s")
    names = kubectl("get", "pods", "-n", "acceptance", "-o", "name").stdout.split()
    assert names == ["pod/shop-0", "pod/shop-1", "pod/shop-2"]
