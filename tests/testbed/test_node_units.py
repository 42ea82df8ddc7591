"""Pure rules of the node agent, each alone: quantities, ``$(VAR)`` expansion, env sources, names,
volume files, provisioning and CPU sets (the conformance suite checks them end to end)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hive_testbed.node.cpus import CpuManager, render_cpuset
from hive_testbed.node.kubelet import split_image
from hive_testbed.node.network import cluster_hosts, pod_hosts_file
from hive_testbed.node.provisioner import volume_for_claim
from hive_testbed.node.spec import (
    SpecError,
    container_env,
    expand,
    parse_quantity,
    referenced_objects,
    resource_value,
    whole_cpus,
)
from hive_testbed.node.volumes import volume_files


def test_quantities() -> None:
    assert parse_quantity("500m") == Decimal("0.5")
    assert parse_quantity("2Gi") == 2 * 1024**3
    assert parse_quantity("1k") == 1000
    assert parse_quantity("1e3") == 1000
    with pytest.raises(ValueError):
        parse_quantity("12 apples")


def test_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A)", env) == "$(A)"  # escaped
    assert expand("$(MISSING) $(A", env) == "$(MISSING) $(A"  # unknown and unclosed stay
    assert expand("cost $5", env) == "cost $5"


def _pod(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"app": "x"}},
        "spec": {"nodeName": "n0", **spec},
    }


def test_env_sources_in_order() -> None:
    container = {
        "name": "c",
        "envFrom": [{"secretRef": {"name": "s"}, "prefix": "S_"}],
        "env": [
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {"name": "GREETING", "value": "hi $(IP)"},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": True}},
            },
        ],
    }
    objects: dict[tuple[str, str], dict[str, Any] | None] = {
        ("secret", "s"): {"data": {"user": "YWxpY2U="}},
        ("configmap", "absent"): None,
    }
    env = container_env(
        _pod(),
        container,
        objects=objects,
        pod_ip="127.64.0.9",
        host_ip="127.0.0.1",
        allocatable={"memory": "2Gi"},
    )
    assert env == {"S_user": "alice", "IP": "127.64.0.9", "MEM": "2048", "GREETING": "hi 127.64.0.9"}
    missing = {
        "name": "c",
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}],
    }
    with pytest.raises(SpecError, match='secret "gone" not found'):
        container_env(
            _pod(), missing, objects={("secret", "gone"): None}, pod_ip="", host_ip="", allocatable={}
        )


def test_resource_fields_round_up_and_zero_divisor_reads_as_one() -> None:
    container = {"resources": {"limits": {"cpu": "250m"}}}
    assert resource_value(container, "limits.cpu", "1", allocatable={}) == "1"
    assert resource_value(container, "limits.cpu", "1m", allocatable={}) == "250"
    assert resource_value(container, "limits.cpu", "0", allocatable={}) == "1"


def test_guaranteed_whole_cpus() -> None:
    def pod(requests: dict[str, str], limits: dict[str, str]) -> dict[str, Any]:
        return {"spec": {"containers": [{"resources": {"requests": requests, "limits": limits}}]}}

    assert whole_cpus(pod({"cpu": "2", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})) == 2
    assert whole_cpus(pod({"cpu": "2000m", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})) == 2
    assert whole_cpus(pod({"cpu": "1", "memory": "1Gi"}, {"cpu": "2", "memory": "1Gi"})) == 0  # Burstable
    assert whole_cpus(pod({"cpu": "1500m", "memory": "1Gi"}, {"cpu": "1500m", "memory": "1Gi"})) == 0


def test_referenced_objects() -> None:
    pod = _pod(
        containers=[{"name": "c", "envFrom": [{"configMapRef": {"name": "a"}}]}],
        volumes=[{"name": "v", "projected": {"sources": [{"secret": {"name": "b"}}]}}],
    )
    assert referenced_objects(pod) == {("configmap", "a"), ("secret", "b")}


def test_volume_files_and_missing_keys() -> None:
    objects: dict[tuple[str, str], dict[str, Any] | None] = {
        ("configmap", "m"): {"data": {"a": "1", "b": "2"}}
    }
    files, mode = volume_files(
        _pod(),
        {"name": "v", "configMap": {"name": "m", "items": [{"key": "a", "path": "dir/a"}]}},
        objects=objects,
        tokens={},
        pod_ip="",
        host_ip="",
        allocatable={},
    ) or ({}, 0)
    assert files == {"dir/a": b"1"} and mode == 0o644
    with pytest.raises(SpecError, match="key 'zz' not found"):
        volume_files(
            _pod(),
            {"name": "v", "configMap": {"name": "m", "items": [{"key": "zz", "path": "z"}]}},
            objects=objects,
            tokens={},
            pod_ip="",
            host_ip="",
            allocatable={},
        )


def test_names_follow_publish_not_ready_addresses() -> None:
    def pod(name: str, ready: bool) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": "db"}},
            "spec": {"hostname": name, "subdomain": "db"},
            "status": {
                "podIP": f"127.64.0.{len(name)}",
                "conditions": [{"type": "Ready", "status": str(ready)}],
            },
        }

    service = {
        "metadata": {"name": "db", "namespace": "ns"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}},
    }
    pods = [pod("db-0", True), pod("db-10", False)]
    names = " ".join(names for _, names in cluster_hosts(pods, [service]))
    assert "db-0.db.ns.svc.cluster.local" in names and "db-10.db" not in names
    service["spec"]["publishNotReadyAddresses"] = True
    names = " ".join(names for _, names in cluster_hosts(pods, [service]))
    assert "db-10.db.ns.svc.cluster.local" in names
    hosts = pod_hosts_file(pods[0], "127.64.0.4", cluster_hosts(pods, [service])).decode()
    assert hosts.startswith("127.0.0.1\tlocalhost")
    assert "db.ns.svc.cluster.local db.ns.svc db" in hosts  # short name within the namespace


def test_a_claim_is_provisioned_only_once_a_node_is_selected(tmp_path: Path) -> None:
    claim = {
        "metadata": {
            "name": "data",
            "namespace": "ns",
            "uid": "abc",
            "annotations": {"volume.kubernetes.io/storage-provisioner": "testbed.hive.dev/local"},
        },
        "spec": {"storageClassName": "hive-local", "resources": {"requests": {"storage": "1Gi"}}},
    }
    assert (
        volume_for_claim(claim, provisioner="testbed.hive.dev/local", root=tmp_path, reclaim_policy="Delete")
        is None
    )
    claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] = "hive-node-1"
    volume = volume_for_claim(
        claim, provisioner="testbed.hive.dev/local", root=tmp_path, reclaim_policy="Delete"
    )
    assert volume is not None
    assert volume["spec"]["claimRef"]["uid"] == "abc"
    assert volume["spec"]["local"]["path"] == str(tmp_path / "pvc-abc")
    term = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term["values"] == ["hive-node-1"]
    assert volume_for_claim(claim, provisioner="other", root=tmp_path, reclaim_policy="Delete") is None


def test_cpu_sets_and_exclusive_allocation() -> None:
    assert render_cpuset([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    manager = CpuManager([0, 1, 2, 3])
    cpus, exclusive = manager.allocate("a", 2)
    assert exclusive and cpus == [1, 2] and manager.shared() == [0, 3]
    assert manager.allocate("b", 2) == ([0, 3], False)  # does not fit: shared, and says so
    manager.release("a")
    assert manager.shared() == [0, 1, 2, 3]


def test_image_names_and_tags() -> None:
    assert split_image("registry.example:5000/team/hive-runtime:1.2") == (
        "registry.example:5000/team/hive-runtime",
        "1.2",
    )
    assert split_image("python") == ("python", "latest")
