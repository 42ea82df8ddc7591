"""``helm install``, ``upgrade`` and ``uninstall`` of the chart against the bed's real API server.

helm talks to the server the way it talks to any cluster (discovery, protobuf and JSON bodies,
release records in Secrets); a missing helm fails the run (``make`` installs it), never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hive_testbed.kubectl import Kubectl

REPO = Path(__file__).resolve().parents[2]
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")


def helm(cluster: Any, *args: str) -> subprocess.CompletedProcess[str]:
    if HELM is None:
        pytest.fail("helm is not installed (make installs it: hive tools install-helm)", pytrace=False)
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig), HELM_CACHE_HOME="/tmp/hive-helm-cache")
    result = subprocess.run([HELM, *args], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, f"helm {' '.join(args)}: {result.stderr}"
    return result


def test_helm_install_runs_the_operator_in_the_cluster_upgrade_and_uninstall(
    cluster: Any, kubectl: Kubectl, namespace: str
) -> None:
    """helm installs the operator as a pod (in-cluster credentials of the chart's ServiceAccount,
    a Role for this namespace only); it reconciles a HiveCluster to Ready; helm upgrades and
    uninstalls the release through the same API."""
    chart = str(REPO / "charts/hive")
    scope = (
        "--set",
        "operator.watch.allNamespaces=false",
        "--set",
        f"operator.watch.namespaces={{{namespace}}}",
    )
    helm(cluster, "install", "hive", chart, "-n", namespace, *scope, "--wait", "--timeout", "90s")
    releases = json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["status"], r["revision"]) for r in releases] == [("hive", "deployed", "1")]
    for crd in ("hiveclusters.hive.dev", "hivebackups.hive.dev"):
        assert kubectl.json("get", "crd", crd)["status"]["acceptedNames"]["kind"].startswith("Hive")
    operator = kubectl.pods(namespace, "app.kubernetes.io/name=hive-operator")
    assert len(operator) == 1 and operator[0]["spec"]["serviceAccountName"] == "hive-operator"

    manifest = {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {"name": "solo", "namespace": namespace},
        "spec": {
            "version": "0.1.0",
            "replicas": 1,
            "resources": {"cpu": 1, "memory": "512Mi"},
            "storage": {"size": "1Gi"},
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    waited = kubectl(
        "wait",
        "--for=condition=Ready",
        "hivecluster/solo",
        "-n",
        namespace,
        "--timeout=120s",
        timeout=130,
        check=False,
    )
    assert waited.returncode == 0, kubectl(
        "logs", "-n", namespace, "deploy/hive-operator", check=False
    ).stdout[-3000:]
    assert kubectl.json("get", "hivecluster", "solo", "-n", namespace)["status"]["leader"] == "solo-0"
    kubectl("delete", "hivecluster", "solo", "-n", namespace, "--wait=true", timeout=120)

    helm(
        cluster,
        "upgrade",
        "hive",
        chart,
        "-n",
        namespace,
        *scope,
        "--set",
        "operator.interval=5",
        "--wait",
        "--timeout",
        "90s",
    )
    releases = json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["revision"]) for r in releases] == [("hive", "2")]
    history = kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm,name=hive")["items"]
    assert len(history) == 2  # one release record per revision, stored through the API

    helm(cluster, "uninstall", "hive", "-n", namespace, "--wait")
    assert json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout) == []
    assert kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm")["items"] == []
