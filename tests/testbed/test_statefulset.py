"""The StatefulSet controller through the API, with the test acting as the kubelet (marking pods Ready)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hive_testbed.rawclient import RawClient

STS = "/apis/apps/v1/namespaces/{ns}/statefulsets"
PODS = "/api/v1/namespaces/{ns}/pods"
PVCS = "/api/v1/namespaces/{ns}/persistentvolumeclaims"


def statefulset(
    name: str,
    *,
    replicas: int,
    policy: str = "OrderedReady",
    image: str = "img:1",
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": name}},
            "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ],
        },
    }


class Kubelet:
    """Plays the node: every pod it sees becomes Running and Ready."""

    def __init__(self, api: RawClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace

    def pods(self) -> dict[str, dict[str, Any]]:
        items = self.api.get(PODS.format(ns=self.namespace))["items"]
        return {p["metadata"]["name"]: p for p in items}

    def mark_ready(self) -> None:
        for name, pod in self.pods().items():
            if (pod.get("status") or {}).get("phase") == "Running":
                continue
            self.api.patch(
                f"{PODS.format(ns=self.namespace)}/{name}/status",
                {
                    "status": {
                        "phase": "Running",
                        "podIP": "127.0.10.1",
                        "conditions": [{"type": "Ready", "status": "True"}],
                    }
                },
            )

    def run_until(self, predicate: Callable[[], bool], seconds: float = 15.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.mark_ready()
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"not reached; pods: {sorted(self.pods())}")


def revisions(kubelet: Kubelet) -> dict[str, str]:
    return {n: p["metadata"]["labels"]["controller-revision-hash"] for n, p in kubelet.pods().items()}


def test_ordered_ready_creates_one_pod_at_a_time_with_claims(api: RawClient, namespace: str) -> None:
    api.post(STS.format(ns=namespace), statefulset("web", replicas=3))
    kubelet = Kubelet(api, namespace)
    deadline = time.monotonic() + 5
    while not kubelet.pods() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert sorted(kubelet.pods()) == ["web-0"]  # nothing else until web-0 is Ready
    pod = kubelet.pods()["web-0"]
    assert pod["spec"]["hostname"] == "web-0"
    assert pod["spec"]["subdomain"] == "web"
    assert {"persistentVolumeClaim": {"claimName": "data-web-0"}, "name": "data"} in pod["spec"]["volumes"]
    kubelet.run_until(lambda: sorted(kubelet.pods()) == ["web-0", "web-1", "web-2"])
    kubelet.run_until(lambda: api.get(f"{STS.format(ns=namespace)}/web")["status"].get("readyReplicas") == 3)
    claims = api.get(PVCS.format(ns=namespace))["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-web-0", "data-web-1", "data-web-2"]
    assert all(c["status"]["phase"] == "Bound" for c in claims)
    status = api.get(f"{STS.format(ns=namespace)}/web")["status"]
    assert status["currentRevision"] == status["updateRevision"]


def test_deleted_pod_returns_with_the_same_claim(api: RawClient, namespace: str) -> None:
    api.post(STS.format(ns=namespace), statefulset("db", replicas=2, policy="Parallel"))
    kubelet = Kubelet(api, namespace)
    kubelet.run_until(lambda: len(kubelet.pods()) == 2)
    claim_uid = api.get(f"{PVCS.format(ns=namespace)}/data-db-1")["metadata"]["uid"]
    old_uid = kubelet.pods()["db-1"]["metadata"]["uid"]
    api.delete(f"{PODS.format(ns=namespace)}/db-1")
    kubelet.run_until(
        lambda: kubelet.pods().get("db-1", {}).get("metadata", {}).get("uid", old_uid) != old_uid
    )
    assert api.get(f"{PVCS.format(ns=namespace)}/data-db-1")["metadata"]["uid"] == claim_uid


def test_scale_down_removes_highest_ordinals_and_keeps_claims(api: RawClient, namespace: str) -> None:
    api.post(STS.format(ns=namespace), statefulset("s", replicas=3, policy="Parallel"))
    kubelet = Kubelet(api, namespace)
    kubelet.run_until(lambda: len(kubelet.pods()) == 3)
    api.patch(f"{STS.format(ns=namespace)}/s/scale", {"spec": {"replicas": 1}})
    kubelet.run_until(lambda: sorted(kubelet.pods()) == ["s-0"])
    assert len(api.get(PVCS.format(ns=namespace))["items"]) == 3


def test_rolling_update_respects_partition(api: RawClient, namespace: str) -> None:
    strategy = {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}
    api.post(STS.format(ns=namespace), statefulset("r", replicas=3, policy="Parallel", strategy=strategy))
    kubelet = Kubelet(api, namespace)
    kubelet.run_until(
        lambda: (
            len(kubelet.pods()) == 3
            and api.get(f"{STS.format(ns=namespace)}/r")["status"].get("readyReplicas") == 3
        )
    )
    old = revisions(kubelet)["r-0"]
    template = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "img:2"}]}}}}
    api.patch(f"{STS.format(ns=namespace)}/r", template, kind="strategic")
    kubelet.run_until(
        lambda: (
            len(set(revisions(kubelet).values())) == 2
            and len(kubelet.pods()) == 3
            and revisions(kubelet)["r-1"] != old
            and revisions(kubelet)["r-2"] != old
        )
    )
    assert revisions(kubelet)["r-0"] == old
    status = api.get(f"{STS.format(ns=namespace)}/r")["status"]
    assert status["currentRevision"] == old
    assert status["updateRevision"] != old
    api.patch(
        f"{STS.format(ns=namespace)}/r",
        {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
        kind="strategic",
    )
    kubelet.run_until(
        lambda: (
            len(kubelet.pods()) == 3
            and len(set(revisions(kubelet).values())) == 1
            and revisions(kubelet)["r-0"] != old
        )
    )
    kubelet.run_until(lambda: api.get(f"{STS.format(ns=namespace)}/r")["status"]["currentRevision"] != old)


def test_on_delete_updates_only_deleted_pods(api: RawClient, namespace: str) -> None:
    api.post(
        STS.format(ns=namespace),
        statefulset("o", replicas=2, policy="Parallel", strategy={"type": "OnDelete"}),
    )
    kubelet = Kubelet(api, namespace)
    kubelet.run_until(lambda: len(kubelet.pods()) == 2)
    old = revisions(kubelet)["o-0"]
    template = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "img:2"}]}}}}
    api.patch(f"{STS.format(ns=namespace)}/o", template, kind="strategic")
    time.sleep(0.5)
    kubelet.mark_ready()
    assert set(revisions(kubelet).values()) == {old}
    api.delete(f"{PODS.format(ns=namespace)}/o-1")
    kubelet.run_until(lambda: len(kubelet.pods()) == 2 and revisions(kubelet)["o-1"] != old)
    assert revisions(kubelet)["o-0"] == old


def test_disruption_budget_status_and_eviction(api: RawClient, namespace: str) -> None:
    api.post(STS.format(ns=namespace), statefulset("p", replicas=3, policy="Parallel"))
    pdbs = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    api.post(
        pdbs,
        {"metadata": {"name": "p"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "p"}}}},
    )
    kubelet = Kubelet(api, namespace)
    kubelet.run_until(lambda: api.get(f"{pdbs}/p").body.get("status", {}).get("disruptionsAllowed") == 1)
    status = api.get(f"{pdbs}/p")["status"]
    assert (status["expectedPods"], status["currentHealthy"], status["desiredHealthy"]) == (3, 3, 2)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p-0"}}
    assert api.post(f"{PODS.format(ns=namespace)}/p-0/eviction", eviction).status == 201
    refused = api.post(f"{PODS.format(ns=namespace)}/p-1/eviction", dict(eviction, metadata={"name": "p-1"}))
    assert refused.status == 429
    assert "disruption budget" in refused["message"]
