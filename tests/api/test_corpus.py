"""The invalid corpus is rejected, the samples admitted, by the API server's rules and the models alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hive_operator.api import HiveBackup, HiveCluster, ManifestError, parse_manifest

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
SAMPLES = sorted((REPO / "manifests" / "samples").glob("*.yaml"))
MODELS = {"HiveCluster": HiveCluster, "HiveBackup": HiveBackup}


def _expectations(path: Path) -> tuple[str, str | None]:
    text = path.read_text()
    field = re.search(r"^# expect: (.+)$", text, re.M)
    message = re.search(r"^# expect-message: (.+)$", text, re.M)
    assert field, f"{path.name} has no '# expect:' line"
    return field.group(1).strip(), message.group(1).strip() if message else None


def _model_errors(document: dict[str, Any]) -> list[str]:
    try:
        parse_manifest(document, MODELS[document["kind"]])
    except ManifestError as error:
        return error.messages
    return []


def _names_field(errors: list[str], field: str, message: str | None) -> bool:
    """An error line starts with the field path (or a child of it) and carries the message."""
    for line in errors:
        path = line.split(":", 1)[0]
        if (path == field or path.startswith((field + ".", field + "["))) and (
            message is None or message in line
        ):
            return True
    return False


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 30


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_api_server_rejects_invalid_manifest_naming_the_field(path: Path, emulators: Any) -> None:
    field, message = _expectations(path)
    document = yaml.safe_load(path.read_text())
    errors = emulators[document["kind"]].admit(document)
    assert errors, f"{path.name} was admitted"
    assert _names_field(errors, field, message), f"{path.name}: no error names {field!r}: {errors}"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_models_reject_invalid_manifest_naming_the_field(path: Path) -> None:
    field, message = _expectations(path)
    document = yaml.safe_load(path.read_text())
    errors = _model_errors(document)
    assert errors, f"{path.name} was accepted by the models"
    assert _names_field(errors, field, message), f"{path.name}: no error names {field!r}: {errors}"


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_samples_are_admitted_by_both(path: Path, emulators: Any) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        assert emulators[document["kind"]].admit(document) == []
        assert _model_errors(document) == []


def test_samples_cover_development_production_and_backup() -> None:
    documents = [doc for path in SAMPLES for doc in yaml.safe_load_all(path.read_text())]
    clusters = [parse_manifest(doc, HiveCluster) for doc in documents if doc["kind"] == "HiveCluster"]
    assert any(cluster.spec.replicas == 1 for cluster in clusters)
    production = [cluster for cluster in clusters if cluster.spec.replicas == 5]
    assert production, "no 5-replica production sample"
    spec = production[0].spec
    assert spec.cpu_isolation.exclusive_cores
    assert spec.tls.mode == "certManager"
    assert spec.backup is not None and spec.backup.destination.s3 is not None
    assert spec.backup.schedule == "*/15 * * * *"
    assert spec.upgrade.maintenance_windows
    assert any(doc["kind"] == "HiveBackup" for doc in documents)


def test_both_paths_give_the_same_verdict_on_every_manifest(emulators: Any) -> None:
    """One verdict per manifest: rejected by both or admitted by both (corpus and samples)."""
    disagreements = []
    for path in [*INVALID, *SAMPLES]:
        for document in yaml.safe_load_all(path.read_text()):
            by_server = bool(emulators[document["kind"]].admit(document))
            by_models = bool(_model_errors(document))
            if by_server != by_models:
                disagreements.append((path.name, by_server, by_models))
    assert disagreements == []
