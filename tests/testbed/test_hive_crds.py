"""The generated Hive CRDs on the bed's real API server: the checks tests/e2e runs on kind, without Docker.

The CRDs go in with the real ``kubectl apply --server-side -f crds/``; samples must then be admitted
and every manifest of the invalid corpus rejected naming the expected field (server dry run with
strict field validation, what ``kubectl apply --dry-run=server --validate=strict`` sends). The real
API server evaluates the schema, defaulting and CEL rules, so a rule it cannot compile fails here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hive_testbed.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((REPO / "tests/api/invalid").glob("*.yaml"))
SAMPLES = sorted((REPO / "manifests/samples").glob("*.yaml"))
PLURALS = {"HiveCluster": "hiveclusters", "HiveBackup": "hivebackups"}


@pytest.fixture(scope="module")
def hive_crds(api: RawClient, session_kubectl: Any) -> RawClient:
    assert list((REPO / "crds").glob("*.yaml")), "crds/ has not been generated (hive crds generate)"
    kubectl = session_kubectl
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for crd in ("hiveclusters.hive.dev", "hivebackups.hive.dev"):
        kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=10s")
    for namespace in ("trading", "hive-dev"):
        api.post("/api/v1/namespaces", {"metadata": {"name": namespace}})
    return api


def _dry_run_create(api: RawClient, document: dict[str, Any]) -> Any:
    namespace = document["metadata"].get("namespace", "default")
    path = f"/apis/hive.dev/v1alpha1/namespaces/{namespace}/{PLURALS[document['kind']]}"
    return api.post(path, document, params={"dryRun": "All", "fieldValidation": "Strict"})


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_is_admitted(path: Path, hive_crds: RawClient) -> None:
    reply = _dry_run_create(hive_crds, yaml.safe_load(path.read_text()))
    assert reply.status == 201, reply.body


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_rejected_with_its_field(path: Path, hive_crds: RawClient) -> None:
    text = path.read_text()
    field = re.search(r"^# expect: (.+)$", text, re.M)
    assert field
    reply = _dry_run_create(hive_crds, yaml.safe_load(text))
    assert reply.status in (400, 422), f"{path.name} was admitted"
    assert field.group(1).strip().split("[")[0] in reply["message"], reply["message"]
