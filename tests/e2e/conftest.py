"""Real-cluster tests: they need Docker and kind, and skip with a clear message elsewhere.

Set HIVE_E2E_KUBECONFIG to run them against an existing cluster instead of creating a kind one.
kubectl is never a reason to skip: it is the one ``make k8s`` builds for the test bed (``make
test`` depends on it), and a missing one fails the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_testbed import k8sbuild


def _docker_engine_running() -> bool:
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=30)
    return result.returncode == 0


def kubectl_binary() -> Path:
    """The test bed's kubectl (``make k8s``); a missing one fails the test, never skips it."""
    path = k8sbuild.binary("kubectl")
    if not path.exists():
        pytest.fail(f"kubectl is missing at {path}: run `make k8s` (make test does)")
    return path


@pytest.fixture(scope="session")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    existing = os.environ.get("HIVE_E2E_KUBECONFIG")
    if existing:
        yield Path(existing)
        return
    if shutil.which("kind") is None:
        pytest.skip(
            "kind is not installed (needed to create a real cluster); set HIVE_E2E_KUBECONFIG instead"
        )
    if not _docker_engine_running():
        pytest.skip("no Docker engine is running, so kind cannot start a cluster")
    kubectl_binary()
    name = f"hive-e2e-{uuid.uuid4().hex[:6]}"
    path = tmp_path_factory.mktemp("kind") / "kubeconfig"
    subprocess.run(
        ["kind", "create", "cluster", "--name", name, "--kubeconfig", str(path), "--wait", "120s"], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", name], check=False)
