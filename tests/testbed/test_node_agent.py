"""The node agent end to end: a StatefulSet of real HTTP server processes on their own pod IPs.

Acceptance of the issue: pods become Ready through their readiness probes and answer on their pod
IPs, resolve their pod DNS names, see their PVC at its mountPath, and a deleted pod comes back
with the same PVC directory. Uses its own test bed (with a node agent) next to the shared one.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def node_bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestBedThread, RawClient]]:
    workdir = tmp_path_factory.mktemp("node-bed")
    bed = TestBedThread(workdir=workdir, node_root=workdir / "node", restart_backoff=0.2).start()
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
    api.post(f"/apis/apps/v1/namespaces/{ns}/statefulsets", _statefulset())
    sts = f"/apis/apps/v1/namespaces/{ns}/statefulsets/web"
    _wait(lambda: api.get(sts).body.get("status", {}).get("readyReplicas") == 2)

    pods = {p["metadata"]["name"]: p for p in api.get(f"/api/v1/namespaces/{ns}/pods")["items"]}
    ips = {name: pod["status"]["podIP"] for name, pod in pods.items()}
    assert len(set(ips.values())) == 2
    assert all(ip.startswith("127.0.10.") for ip in ips.values())
    for name, ip in ips.items():
        boots = _fetch(f"http://{ip}:8080/boots")
        assert boots.strip() == f"{name} {ip}"  # its own pod DNS name resolved to its pod IP

    # a configMap volume is updated in place
    node = bed.api.node
    assert node is not None
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
