"""The models' defaults and rules equal what the API server derives from the generated CRD."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hive_operator.api import HiveBackup, HiveCluster, ManifestError, parse_manifest
from hive_operator.api.base import evaluate_cel, field_path

MINIMAL = {
    "apiVersion": "hive.dev/v1alpha1",
    "kind": "HiveCluster",
    "metadata": {"name": "c", "namespace": "n"},
    "spec": {"version": "1.2.3"},
}


def _server_defaulted(emulator: Any, document: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(document)
    emulator._default(emulator.schema, obj)
    return obj


@pytest.mark.parametrize(
    "spec",
    [
        {"version": "1.2.3"},
        {"version": "1.2.3", "replicas": 5, "canary": {"version": "1.3.0"}},
        {"version": "1.2.3", "risk": {"limits": {}}, "backup": {
            "schedule": "@hourly", "destination": {"pvc": {"claimName": "b"}},
            "encryptionKeySecret": {"name": "k"},
        }},
        {"version": "1.2.3", "tls": {"mode": "certManager", "issuerRef": {"name": "ca"}}},
    ],
)  # fmt: skip
def test_api_server_defaults_equal_model_defaults(spec: dict[str, Any], emulators: Any) -> None:
    document = {**MINIMAL, "spec": spec}
    by_server = _server_defaulted(emulators["HiveCluster"], document)["spec"]
    by_models = parse_manifest(document, HiveCluster).spec.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert by_server == by_models


def test_minimal_cluster_gets_production_minded_defaults() -> None:
    cluster = parse_manifest(MINIMAL, HiveCluster)
    assert cluster.spec.replicas == 3
    assert cluster.spec.cpu_isolation.exclusive_cores is True
    assert cluster.spec.resources.cpu == 2
    assert cluster.spec.tls.mode == "operator"
    assert cluster.spec.storage.retention_policy == "Retain"
    assert cluster.spec.backup is None and cluster.spec.canary is None


def test_manifest_error_lists_every_message_with_field_paths() -> None:
    document = {**MINIMAL, "spec": {"version": "x", "replicas": 2, "secrets": [{"name": "A"}]}}
    with pytest.raises(ManifestError) as caught:
        parse_manifest(document, HiveCluster)
    paths = {message.split(":", 1)[0] for message in caught.value.messages}
    assert {"spec.version", "spec.secrets[0].name"} <= paths


def test_backup_is_parsed() -> None:
    backup = parse_manifest(
        {
            "apiVersion": "hive.dev/v1alpha1",
            "kind": "HiveBackup",
            "metadata": {"name": "b"},
            "spec": {"cluster": "c"},
        },
        HiveBackup,
    )
    assert backup.spec.cluster == "c" and backup.spec.destination is None


def test_field_path_matches_api_server_notation() -> None:
    assert field_path(["spec", "secrets", 0, "items", 2, "path"]) == "spec.secrets[0].items[2].path"


def test_cel_errors_count_as_failed_rules() -> None:
    assert evaluate_cel("self.a > 1", {"a": 2}) is True
    assert evaluate_cel("self.a > 1", {}) is False
    assert evaluate_cel("duration(self.d) < duration('1h')", {"d": "not a duration"}) is False


@settings(max_examples=60, deadline=None)
@given(replicas=st.integers(min_value=-3, max_value=12))
def test_replica_verdicts_agree_for_every_count(replicas: int, emulators: Any) -> None:
    document = {**MINIMAL, "spec": {"version": "1.2.3", "replicas": replicas}}
    by_server = not emulators["HiveCluster"].admit(document)
    try:
        parse_manifest(document, HiveCluster)
        by_models = True
    except ManifestError:
        by_models = False
    assert by_server == by_models == (replicas in (1, 3, 5, 7))


@settings(max_examples=60, deadline=None)
@given(duration_h=st.integers(min_value=1, max_value=5000), renew_h=st.integers(min_value=1, max_value=5000))
def test_renew_before_verdicts_agree(duration_h: int, renew_h: int, emulators: Any) -> None:
    spec = {"version": "1.2.3", "tls": {"duration": f"{duration_h}h", "renewBefore": f"{renew_h}h"}}
    document = {**MINIMAL, "spec": spec}
    by_server = not emulators["HiveCluster"].admit(document)
    try:
        parse_manifest(document, HiveCluster)
        by_models = True
    except ManifestError:
        by_models = False
    assert by_server == by_models == (renew_h < duration_h < 87600)
