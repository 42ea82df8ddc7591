"""The Helm chart lints and renders with the real helm (installed into .venv by `make`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    if HELM is None:
        pytest.fail("helm is not installed (make installs it: hive tools install-helm)", pytrace=False)
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=False, timeout=120)


def test_chart_lints() -> None:
    result = _helm("lint", str(REPO / "charts/hive"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_chart_renders_the_generated_crds() -> None:
    result = _helm("template", "hive", str(REPO / "charts/hive"), "--include-crds")
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    crds = [doc for doc in rendered if doc["kind"] == "CustomResourceDefinition"]
    names = sorted(doc["metadata"]["name"] for doc in crds)
    assert names == ["hivebackups.hive.dev", "hiveclusters.hive.dev"]
    for doc in crds:
        file = REPO / "crds" / f"hive.dev_{doc['spec']['names']['plural']}.yaml"
        assert doc == yaml.safe_load(file.read_text())


def _render(*values: str) -> list[dict[str, Any]]:
    args = ["template", "hive", str(REPO / "charts/hive"), "-n", "hive-system"]
    for value in values:
        args += ["--set", value]
    result = _helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_chart_ships_the_operator_cluster_wide_by_default() -> None:
    rendered = {(doc["kind"], doc["metadata"]["name"]): doc for doc in _render()}
    deployment = rendered[("Deployment", "hive-operator")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["hive", "operator", "run"]
    assert "--all-namespaces" in container["args"]
    assert ("ClusterRole", "hive-operator-hive-system") in rendered
    assert ("ServiceAccount", "hive-operator") in rendered
    assert not any(kind == "Role" for kind, _ in rendered)


def test_chart_single_namespace_mode_grants_roles_only_where_it_watches() -> None:
    rendered = _render("operator.watch.allNamespaces=false", "operator.watch.namespaces={trading,risk}")
    roles = sorted(
        (d["metadata"]["namespace"], d["kind"]) for d in rendered if d["kind"] in ("Role", "RoleBinding")
    )
    assert roles == [
        ("risk", "Role"),
        ("risk", "RoleBinding"),
        ("trading", "Role"),
        ("trading", "RoleBinding"),
    ]
    cluster_roles = [d["metadata"]["name"] for d in rendered if d["kind"] == "ClusterRole"]
    assert cluster_roles == ["hive-operator-hive-system-observe"], "only kopf's observation is cluster-wide"
    container = next(d for d in rendered if d["kind"] == "Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert "--namespace=trading" in container["args"] and "--all-namespaces" not in container["args"]


def test_chart_peering_ships_kopfs_crds_rbac_and_flags_and_refuses_replicas_without_it() -> None:
    rendered = _render("operator.peering.enabled=true", "operator.replicas=2")
    crds = sorted(d["metadata"]["name"] for d in rendered if d["kind"] == "CustomResourceDefinition")
    assert crds == ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]
    peering_role = next(d for d in rendered if d["metadata"]["name"] == "hive-operator-hive-system-peering")
    assert peering_role["kind"] == "ClusterRole"
    assert peering_role["rules"][0]["resources"] == ["clusterkopfpeerings"]
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--peering=hive-operator" in args and "--peering-lifetime=15" in args
    namespaced = _render(
        "operator.peering.enabled=true",
        "operator.watch.allNamespaces=false",
        "operator.watch.namespaces={trading}",
    )
    roles = [
        d for d in namespaced if d["kind"] == "Role" and d["metadata"]["name"] == "hive-operator-peering"
    ]
    assert [r["metadata"]["namespace"] for r in roles] == ["trading"]
    assert roles[0]["rules"][0]["resources"] == ["kopfpeerings"]
    assert not any(d["kind"] == "CustomResourceDefinition" for d in _render())
    two = _helm("template", "hive", str(REPO / "charts/hive"), "--set", "operator.replicas=2")
    assert two.returncode != 0 and "needs operator.peering.enabled" in two.stderr
