"""Transition rules (``oldSelf``): what must not change after creation, judged alike by the models
and by the CRD (through the admission emulator), each error naming its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from hive_operator.api import HiveCluster, parse_manifest
from hive_operator.api.base import parse_quantity, transition_errors
from hive_operator.api.generate import generated_files

BASE: dict[str, Any] = {
    "apiVersion": "hive.dev/v1alpha1",
    "kind": "HiveCluster",
    "metadata": {"name": "alpha", "namespace": "prod"},
    "spec": {"version": "1.2.3", "storage": {"size": "20Gi", "storageClassName": "fast"}},
}


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    document = copy.deepcopy(base or BASE)
    target = document
    keys = path.split(".")
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    if value is None:
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = value
    return document


def _model_errors(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return transition_errors(parse_manifest(old, HiveCluster), parse_manifest(new, HiveCluster))


BACKUP_SOURCE = {"fromBackup": {"backupName": "nightly", "encryptionKeySecret": {"name": "k"}}}

CLASS, SIZE = "spec.storage.storageClassName", "spec.storage.size"
TLS_TO_CERT_MANAGER = {"mode": "certManager", "issuerRef": {"name": "ca"}}

REFUSED = [
    ("storage class changed", BASE, _with(CLASS, "slow"), CLASS),
    ("storage class removed", BASE, _with(CLASS, None), CLASS),
    ("storage shrunk", BASE, _with("spec.storage.size", "10Gi"), "spec.storage.size"),
    ("storage shrunk by units", BASE, _with("spec.storage.size", "20479Mi"), "spec.storage.size"),
    ("tls mode changed", BASE, _with("spec.tls", TLS_TO_CERT_MANAGER), "spec.tls.mode"),
    ("bootstrap added", BASE, _with("spec.bootstrap", BACKUP_SOURCE), "spec.bootstrap"),
    ("bootstrap removed", _with("spec.bootstrap", BACKUP_SOURCE), BASE, "spec.bootstrap"),
    (
        "bootstrap source changed",
        _with("spec.bootstrap", BACKUP_SOURCE),
        _with("spec.bootstrap.fromBackup.backupName", "weekly", _with("spec.bootstrap", BACKUP_SOURCE)),
        "spec.bootstrap",
    ),
]  # fmt: skip

ALLOWED = [
    ("unchanged", BASE, BASE),
    ("storage grown", BASE, _with("spec.storage.size", "40Gi")),
    ("same size in other units", BASE, _with("spec.storage.size", "20480Mi")),
    ("replicas and version changed", BASE, _with("spec.version", "1.3.0", _with("spec.replicas", 5))),
    ("bootstrap kept", _with("spec.bootstrap", BACKUP_SOURCE), _with("spec.bootstrap", BACKUP_SOURCE)),
]


@pytest.fixture
def emulator(emulators: dict[str, Any]) -> Any:
    return emulators["HiveCluster"]


@pytest.mark.parametrize(("name", "old", "new", "field"), REFUSED, ids=[case[0] for case in REFUSED])
def test_refused_transitions_name_their_field(
    name: str, old: dict[str, Any], new: dict[str, Any], field: str, emulator: Any
) -> None:
    model = _model_errors(old, new)
    crd = emulator.admit_update(old, new)
    assert len(model) == 1, model
    assert model[0].startswith(f"{field}: ") and field in model[0].split(": ", 1)[1]
    assert len(crd) == 1, crd
    assert crd[0].startswith(field)
    assert emulator.admit(new) == [], "on create the same object is fine: only the change is refused"


@pytest.mark.parametrize(("name", "old", "new"), ALLOWED, ids=[case[0] for case in ALLOWED])
def test_allowed_transitions(name: str, old: dict[str, Any], new: dict[str, Any], emulator: Any) -> None:
    assert _model_errors(old, new) == []
    assert emulator.admit_update(old, new) == []


def test_creating_objects_does_not_evaluate_transition_rules() -> None:
    parse_manifest(_with("spec.bootstrap", BACKUP_SOURCE), HiveCluster)  # no oldSelf: no error


def test_quantities_compare_by_value() -> None:
    assert parse_quantity("1Gi") == parse_quantity("1024Mi") == 1024**3
    assert parse_quantity("500M") == 500 * 10**6
    assert parse_quantity("250m") * 4 == 1
    with pytest.raises(ValueError):
        parse_quantity("lots")


def test_status_lists_are_list_maps_for_server_side_apply() -> None:
    crd = yaml.safe_load(
        generated_files()[next(p for p in generated_files() if p.name == "hive.dev_hiveclusters.yaml")]
    )
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["conditions"]["x-kubernetes-list-type"] == "map"
    assert status["conditions"]["x-kubernetes-list-map-keys"] == ["type"]
    assert status["members"]["x-kubernetes-list-type"] == "map"
    assert status["members"]["x-kubernetes-list-map-keys"] == ["pod"]
    assert "pod" in status["members"]["items"]["required"]
    assert "type" in status["conditions"]["items"]["required"]
