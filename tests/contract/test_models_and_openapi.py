"""The admin contract: strict models, the generated OpenAPI document, the route table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from hive_runtime.contract import (
    ROUTES,
    AddLearnerRequest,
    DigestQuery,
    StatusResponse,
    TransferRequest,
)
from hive_runtime.contract.openapi import OPENAPI_DOC, build_document, is_stale, write_document

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (TransferRequest, '{"target": true}', "target"),
        (TransferRequest, '{"target": "2"}', "target"),
        (TransferRequest, '{"target": 0}', "target"),
        (TransferRequest, '{"target": 100001}', "target"),
        (TransferRequest, '{"target": 2, "force": true}', "force"),
        (TransferRequest, '{"waitSeconds": 61}', "waitSeconds"),
        (AddLearnerRequest, "{}", "id"),
        (AddLearnerRequest, '{"id": 2.0}', "id"),
    ],
)
def test_requests_are_strict_and_name_the_field(model: type, body: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate_json(body)
    assert [".".join(map(str, error["loc"])) for error in refused.value.errors()] == [field]


def test_wire_names_are_camel_case_and_responses_carry_the_contract_version() -> None:
    schema = build_document()["components"]["schemas"]["StatusResponse"]
    assert "appliedIndex" in schema["properties"] and "applied_index" not in schema["properties"]
    assert "contractVersion" in schema["required"], "every response states its contract version"
    assert schema["additionalProperties"] is False
    assert DigestQuery.model_validate({"atLeast": "7"}).at_least == 7  # query values arrive as text
    assert set(StatusResponse.model_fields) >= {
        "build_version", "cluster_version", "entry_types", "snapshot_format", "node_id", "name", "role",
        "term", "leader", "commit_index", "applied_index", "snapshot_index", "last_log_index", "members",
        "pending_membership_change", "leadership_transfer", "started_at", "cpu", "certificate",
        "ca_bundle_fingerprint", "secrets", "secrets_hash",
    }  # fmt: skip


def test_document_lists_every_route_and_only_those() -> None:
    paths = build_document()["paths"]
    listed = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    assert listed == {(route.method, route.path) for route in ROUTES}


def test_checked_in_document_is_current() -> None:
    assert not is_stale(REPO), "run: hive contract openapi"


def _hive(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hive_cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60, cwd=REPO)


def test_check_command_fails_on_a_stale_document_and_regenerates_it(tmp_path: Path) -> None:
    write_document(tmp_path)
    assert _hive("contract", "openapi", "--check", "--root", str(tmp_path)).returncode == 0
    target = tmp_path / OPENAPI_DOC
    target.write_text(target.read_text().replace('"getStatus"', '"getStatusOld"'))
    stale = _hive("contract", "openapi", "--check", "--root", str(tmp_path))
    assert stale.returncode == 1 and "stale" in stale.stderr
    assert _hive("contract", "openapi", "--root", str(tmp_path)).returncode == 0
    assert not is_stale(tmp_path)
