"""The real Hive runtime as pods on the bed, applied with kubectl.

The manifests are what the operator's pure builders render for a 3-replica HiveCluster (config in
a ConfigMap, each pod's certificate and audit key in its own Secrets, a claim per pod, peers found
by their pod DNS names under the headless Service, each replica binding its pod IP); no operator
runs here. The test finds the leader through the typed admin client over mutual TLS with the
operator's certificate, deletes the leader's pod, sees a new leader elected, applies the same pod
again (as the operator would) and sees it come back on its claim and rejoin.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hive_operator.api import HiveCluster, parse_manifest
from hive_operator.api.types import parse_duration
from hive_operator.pki import RotationPolicy, ensure_audit_keys, reconcile_pki
from hive_operator.specs import Membership, OperatorContext, desired_objects, leaf_requests, names_of
from hive_runtime.contract.client import AdminClient, AdminError, client_context
from hive_testbed.kubectl import Kubectl, is_ready, ready_pods, wait_for

CONTEXT = OperatorContext(namespace="hive-system", pod_labels={"app.kubernetes.io/name": "hive-operator"})


def render(cluster: HiveCluster) -> list[dict[str, Any]]:
    """What the operator would create for ``cluster`` (its builders, with fresh key material)."""
    names = names_of(cluster)
    pods = [names.pod(ordinal) for ordinal in range(cluster.spec.replicas)]
    tls = cluster.spec.tls
    policy = RotationPolicy(
        leaf_duration=parse_duration(tls.duration),
        ca_duration=parse_duration(tls.ca_duration),
        renew_before=parse_duration(tls.renew_before),
    )
    pki = reconcile_pki(
        None,
        requests=leaf_requests(cluster, CONTEXT, pods=cluster.spec.replicas),
        policy=policy,
        now=datetime.now(UTC),
        pods=pods,
        reports={},
        ca_common_name=f"{cluster.metadata.name} CA",
    ).pki
    keys, _ = ensure_audit_keys({}, pods)
    return desired_objects(
        cluster,
        context=CONTEXT,
        membership=Membership.new_cluster(cluster.spec.replicas),
        pki=pki,
        audit_keys=keys,
    )


def _operator_client_files(kubectl: Kubectl, namespace: str, secret: str, directory: Path) -> dict[str, Path]:
    data = kubectl.json("get", "secret", secret, "-n", namespace)["data"]
    files = {}
    for key in ("ca.crt", "tls.crt", "tls.key"):
        path = directory / key
        path.write_bytes(base64.b64decode(data[key]))
        path.chmod(0o600)
        files[key] = path
    return files


async def _statuses(pods: list[dict[str, Any]], files: dict[str, Path], namespace: str) -> dict[str, Any]:
    context = client_context(
        ca=files["ca.crt"], cert=files["tls.crt"], key=files["tls.key"], namespace=namespace, cluster="alpha"
    )
    found: dict[str, Any] = {}
    for pod in pods:
        try:
            async with AdminClient(
                f"https://{pod['status']['podIP']}:7300", context=context, timeout=3
            ) as admin:
                found[pod["metadata"]["name"]] = await admin.status()
        except (AdminError, OSError, TimeoutError):
            continue
    return found


def test_runtime_pods_elect_a_leader_and_a_replaced_pod_rejoins_on_its_claim(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    manifest = {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {"name": "alpha", "namespace": namespace},
        # Held by the API server only: no operator runs, the children are applied below by hand.
        "spec": {
            "version": "0.1.0",
            "replicas": 3,
            "resources": {"cpu": 1, "memory": "512Mi"},
            "storage": {"size": "1Gi"},
        },
    }
    created = json.loads(kubectl("apply", "-f", "-", "-o", "json", stdin=json.dumps(manifest)).stdout)
    objects = render(parse_manifest(created, HiveCluster))
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(objects))
    selector = "hive.dev/cluster=alpha"
    pods = wait_for(
        lambda: ready_pods(kubectl, namespace, selector, 3), seconds=90, what="3 Ready runtime pods"
    )
    assert len({p["spec"]["nodeName"] for p in pods}) == 3, "required anti-affinity: one replica per node"
    files = _operator_client_files(kubectl, namespace, "alpha-operator-tls", tmp_path)

    def leader_view(answering: int = 3) -> tuple[str, dict[str, Any]] | None:
        current = [p for p in kubectl.pods(namespace, selector) if p["status"].get("podIP")]
        statuses = asyncio.run(_statuses(current, files, namespace))
        leaders = [name for name, status in statuses.items() if status.role == "leader"]
        return (leaders[0], statuses) if len(leaders) == 1 and len(statuses) >= answering else None

    leader, statuses = wait_for(leader_view, seconds=60, what="one leader seen by the admin API")
    assert {s.leader_name for s in statuses.values()} == {leader}
    assert all(s.build_version == "0.1.0" for s in statuses.values()), "the image tag is the build version"
    old = next(p for p in pods if p["metadata"]["name"] == leader)
    commit_before = statuses[leader].commit_index
    node_id = statuses[leader].node_id

    kubectl("delete", "pod", leader, "-n", namespace, "--wait=false")

    def new_leader() -> str | None:
        view = leader_view(answering=2)  # nothing re-creates the deleted pod until we apply it
        return view[0] if view and view[0] != leader else None

    elected = wait_for(new_leader, seconds=90, what="a new leader after the old one's pod was deleted")
    assert elected != leader
    wait_for(
        lambda: all(
            p["metadata"]["uid"] != old["metadata"]["uid"] for p in kubectl.pods(namespace, selector)
        ),
        seconds=60,
        what=f"the old {leader} pod gone",
    )
    [again] = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["name"] == leader]
    kubectl("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump(again))

    def returned() -> dict[str, Any] | None:
        pod = next((p for p in kubectl.pods(namespace, selector) if p["metadata"]["name"] == leader), None)
        return pod if pod and pod["metadata"]["uid"] != old["metadata"]["uid"] and is_ready(pod) else None

    back = wait_for(returned, seconds=90, what=f"{leader} back and Ready")
    status = asyncio.run(_statuses([back], files, namespace))[leader]
    assert status.node_id == node_id, "the same replica, found again by its claim and config"
    assert status.role == "follower" and status.leader_name == elected
    assert status.last_log_index >= commit_before, "it kept its log (its claim) and rejoined"
