"""The generated CRDs are valid apiextensions.k8s.io/v1 objects with structural schemas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CRD_FILES = sorted((REPO / "crds").glob("*.yaml"))


def _crd(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def _nodes(schema: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, child in schema.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


def test_there_are_two_crds() -> None:
    assert [path.name for path in CRD_FILES] == ["hive.dev_hivebackups.yaml", "hive.dev_hiveclusters.yaml"]


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.stem)
def test_crd_validates_against_the_kubernetes_schema_strictly(path: Path) -> None:
    kubernetes_validate.validate(_crd(path), kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_validate_has_teeth() -> None:
    broken = _crd(CRD_FILES[0])
    broken["spec"]["scope"] = "Galactic"
    broken["spec"]["versions"][0]["servedd"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("path", CRD_FILES, ids=lambda p: p.stem)
def test_schema_is_structural(path: Path) -> None:
    schema = _crd(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for where, node in _nodes(schema):
        assert "$ref" not in node, where
        assert "anyOf" not in node and "oneOf" not in node, where
        assert "type" in node, f"{where} has no type"
        assert not ("properties" in node and "additionalProperties" in node), where
        assert "title" not in node, where
        assert not isinstance(node.get("exclusiveMinimum"), int | float), where
        if "default" in node:
            jsonschema.Draft4Validator(node).validate(node["default"])


def test_hivecluster_crd_shape() -> None:
    crd = _crd(REPO / "crds/hive.dev_hiveclusters.yaml")
    names = crd["spec"]["names"]
    assert crd["spec"]["group"] == "hive.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    assert names["shortNames"] == ["hc"] and names["categories"] == ["hive"]
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"]["status"] == {}
    assert version["subresources"]["scale"]["specReplicasPath"] == ".spec.replicas"
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns == ["Ready", "Leader", "Version", "Replicas", "Age"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    for field in (
        "replicas", "version", "image", "resources", "cpuIsolation", "storage", "tls", "secrets",
        "risk", "backup", "upgrade", "canary", "bootstrap", "monitoring", "paused",
    ):  # fmt: skip
        assert field in spec, field
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    for field in (
        "phase", "conditions", "observedGeneration", "leader", "members", "currentVersion",
        "targetVersion", "readyReplicas", "lastBackup", "certificates",
    ):  # fmt: skip
        assert field in status, field


def test_hivebackup_crd_shape() -> None:
    crd = _crd(REPO / "crds/hive.dev_hivebackups.yaml")
    assert crd["spec"]["names"]["shortNames"] == ["hb"]
    version = crd["spec"]["versions"][0]
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    for field in (
        "phase", "committedIndex", "stateDigest", "sizeBytes", "checksum", "verified", "location",
        "startedAt", "completedAt", "error",
    ):  # fmt: skip
        assert field in status, field


def test_status_schema_has_no_defaults() -> None:
    for path in CRD_FILES:
        status = _crd(path)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert all("default" not in node for _, node in _nodes(status)), path.name
