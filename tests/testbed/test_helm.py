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


def test_helm_install_upgrade_uninstall(cluster: Any, kubectl: Kubectl, namespace: str) -> None:
    chart = str(REPO / "charts/hive")
    # The operator Deployment is installed with no replicas: the bed gives pods no in-cluster API
    # credentials (tests/testbed/test_operator.py runs the operator as a process instead).
    none = ("--set", "operator.replicas=0")
    helm(cluster, "install", "hive", chart, "-n", namespace, *none, "--wait", "--timeout", "60s")
    releases = json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["status"], r["revision"]) for r in releases] == [("hive", "deployed", "1")]
    for crd in ("hiveclusters.hive.dev", "hivebackups.hive.dev"):
        assert kubectl.json("get", "crd", crd)["status"]["acceptedNames"]["kind"].startswith("Hive")

    helm(cluster, "upgrade", "hive", chart, "-n", namespace, *none, "--wait", "--timeout", "60s")
    releases = json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout)
    assert [(r["name"], r["revision"]) for r in releases] == [("hive", "2")]
    history = kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm,name=hive")["items"]
    assert len(history) == 2  # one release record per revision, stored through the API

    helm(cluster, "uninstall", "hive", "-n", namespace, "--wait")
    assert json.loads(helm(cluster, "list", "-n", namespace, "-o", "json").stdout) == []
    assert kubectl.json("get", "secrets", "-n", namespace, "-l", "owner=helm")["items"] == []
