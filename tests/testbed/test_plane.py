"""The plane itself: real versions and RBAC, ``hive dev up``/``down``, reuse of a bed's data, and
clear errors for a missing binary or a taken port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hive_testbed import k8sbuild
from hive_testbed.kubectl import Kubectl
from hive_testbed.plane.launcher import Plane, PlaneError, PlaneOptions

REPO = Path(__file__).resolve().parents[2]


def test_kubectl_version_reports_the_real_release(kubectl: Kubectl) -> None:
    versions = kubectl.json("version")
    assert versions["serverVersion"]["gitVersion"] == k8sbuild.KUBERNETES_VERSION
    assert versions["clientVersion"]["gitVersion"] == k8sbuild.KUBERNETES_VERSION


def test_auth_can_i_answers_from_real_rbac(kubectl: Kubectl, namespace: str) -> None:
    def can(*args: str) -> str:
        return kubectl("auth", "can-i", *args, check=False).stdout.strip()

    assert can("create", "deployments", "-n", namespace) == "yes"  # the admin, in system:masters
    account = f"system:serviceaccount:{namespace}:default"
    assert can("list", "secrets", "-n", namespace, f"--as={account}") == "no"
    kubectl("create", "role", "reader", "-n", namespace, "--verb=get,list", "--resource=secrets")
    kubectl(
        "create",
        "rolebinding",
        "reader",
        "-n",
        namespace,
        "--role=reader",
        f"--serviceaccount={namespace}:default",
    )
    assert can("list", "secrets", "-n", namespace, f"--as={account}") == "yes"
    assert can("delete", "secrets", "-n", namespace, f"--as={account}") == "no"
    # A node may read only what its own pods use (the Node authorizer), never every Secret.
    node = ["--as=system:node:hive-node-0", "--as-group=system:nodes"]
    assert can("list", "secrets", "-n", namespace, *node).startswith("no")
    assert can("update", "nodes/hive-node-0", *node) == "yes"


def _hive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hive_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def test_dev_up_down_and_a_second_up_reuses_the_data(tmp_path: Path, cluster: Any) -> None:
    state = tmp_path / "bed"
    up = _hive("dev", "up", "--state-dir", str(state), "--nodes", "1", "--no-crds")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "control plane ready" in up.stdout
    kubectl = Kubectl(state / "kubeconfig", tmp_path / "cache")
    try:
        kubectl("create", "configmap", "kept", "--from-literal=answer=42")
        # Beside the session's bed, this one takes other loopback ranges (its own cluster IPs).
        network = json.loads((state / "plane.json").read_text())["network"]
        assert cluster.plane is None or network != cluster.plane.network.index
        service_ip = kubectl.json("get", "service", "kubernetes", "-n", "default")["spec"]["clusterIP"]
        assert service_ip == f"127.{96 + network}.0.1"
        assert [n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]] == ["hive-node-0"]
        logs = {p.name for p in (state / "logs").iterdir()}
        components = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
        assert {f"{name}.log" for name in components} <= logs
        again = _hive("dev", "up", "--state-dir", str(state), "--nodes", "1", "--no-crds")
        assert again.returncode == 1 and "already runs" in again.stdout
    finally:
        down = _hive("dev", "down", "--state-dir", str(state))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not Plane(PlaneOptions(state_dir=state)).running()

    up = _hive("dev", "up", "--state-dir", str(state), "--nodes", "1", "--no-crds")
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        data = kubectl.json("get", "configmap", "kept")["data"]
        assert data == {"answer": "42"}, "etcd's data survived down and up"
    finally:
        _hive("dev", "down", "--state-dir", str(state))


def test_a_missing_binary_is_named(tmp_path: Path) -> None:
    partial = tmp_path / "bin"
    partial.mkdir()
    for name in ("kube-apiserver", "kubectl"):
        os.symlink(k8sbuild.binary(name), partial / name)
    with pytest.raises(PlaneError, match="missing kube-controller-manager, kube-scheduler, etcd"):
        Plane(PlaneOptions(state_dir=tmp_path / "bed", bin_dir=partial)).up()


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PlaneError, match=f"port {port} for kube-apiserver is taken"):
            Plane(PlaneOptions(state_dir=tmp_path / "bed", apiserver_port=port)).up()


def test_generated_replace_list_matches_the_pinned_kubernetes_module() -> None:
    """testbed/k8s/go.mod maps every staging module of k8s.io/kubernetes to its published version."""
    current = (k8sbuild.MODULES / "k8s" / "go.mod").read_text()
    rendered = k8sbuild.render_k8s_gomod(k8sbuild.kubernetes_gomod())
    assert k8sbuild.replace_block(current) == k8sbuild.replace_block(rendered)
    assert f"\tk8s.io/kubernetes {k8sbuild.KUBERNETES_VERSION} " in current


def test_render_k8s_gomod_maps_staging_replacements() -> None:
    upstream = (
        "module k8s.io/kubernetes\n\ngo 1.26.0\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n"
    )
    rendered = k8sbuild.render_k8s_gomod(upstream, version="v1.36.3")
    assert "\tk8s.io/api => k8s.io/api v0.36.3\n" in rendered
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.3\n" in rendered
    assert "require k8s.io/kubernetes v1.36.3" in rendered
    with pytest.raises(k8sbuild.BuildError):
        k8sbuild.render_k8s_gomod("module x\n")


def test_binaries_are_outside_the_clone_and_current() -> None:
    assert k8sbuild.is_built()
    assert not k8sbuild.bin_dir().resolve().is_relative_to(REPO)
    assert shutil.which("go") is not None
