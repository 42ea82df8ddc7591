"""Fuzz the admin API of a real node from its checked-in OpenAPI document (schemathesis).

Invalid requests (schemathesis's negative mode: wrong types, unknown fields, out-of-range ids,
bad query values) must all be refused with a 4xx that follows the document and change nothing;
valid reads must answer what the document says; a trader certificate may read but never mutate.
Bounded: a few dozen examples per operation, well under a minute together.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pydantic
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hive_cli.local.cluster import LocalCluster
from hive_cli.local.material import TlsFileSet
from hive_runtime.contract.models import DigestQuery

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "admin-openapi.json"
EXAMPLES = 40
BOUNDED = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}
MUTATING = ("transferLeadership", "addLearner", "promoteLearner", "removeMember", "createBackup")


@pytest.fixture(scope="module")
def node(warm_single_node: LocalCluster) -> LocalCluster:
    return warm_single_node


def _session(cluster: LocalCluster, files: TlsFileSet) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override the cluster CA below
    session.cert = (str(files.cert), str(files.key))
    session.verify = str(files.ca)  # the node certificate names its IP address
    return session


def _observed(cluster: LocalCluster, session: requests.Session) -> tuple[Any, ...]:
    status = session.get(f"https://{cluster.host(1)}:{cluster.ports['admin']}/status", timeout=10).json()
    members = tuple((member["id"], member["role"]) for member in status["members"])
    return status["term"], status["appliedIndex"], status["latestDigest"]["digest"], members


def _valid_digest_query(url: str) -> bool:
    """Whether the query string as sent is one the contract accepts (negative generation can
    produce a value whose text is valid)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
    if any(len(values) != 1 for values in query.values()):
        return False
    try:
        parsed = DigestQuery.model_validate({key: values[0] for key, values in query.items()})
    except pydantic.ValidationError:
        return False
    return parsed.index is None or parsed.at_least is None


def _schema() -> Any:
    return schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))


@pytest.mark.parametrize("operation_id", ["getDigest", *MUTATING])  # GET /status takes no input
def test_invalid_requests_are_refused_and_change_nothing(node: LocalCluster, operation_id: str) -> None:
    session = _session(node, node.operator_tls_files)
    base_url = f"https://{node.host(1)}:{node.ports['admin']}"
    before = _observed(node, session)
    operation = _schema().find_operation_by_id(operation_id)
    answers: list[int] = []

    @settings(max_examples=EXAMPLES, **BOUNDED)
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def fuzz(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, timeout=10, verify=session.verify)
        answers.append(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if operation_id == "getDigest" and _valid_digest_query(response.request.url):
            return  # a "wrong type" that serialises to valid text (atLeast="0" is ?atLeast=0)
        assert 400 <= response.status_code < 500, (case.as_curl_command(), response.text)
        case.validate_response(response)  # status, content type and body as the document says

    fuzz()
    assert answers and node.is_running(1), node.log_tail(1)
    assert _observed(node, session) == before


def test_valid_reads_answer_as_documented_and_traders_cannot_mutate(node: LocalCluster) -> None:
    base_url = f"https://{node.host(1)}:{node.ports['admin']}"
    operator = _session(node, node.operator_tls_files)
    trader = _session(node, node.client_tls_files)
    before = _observed(node, operator)
    schema = _schema()

    for operation_id in ("getStatus", "getDigest"):
        operation = schema.find_operation_by_id(operation_id)

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy())
        def reads(case: Any) -> None:
            response = case.call(base_url=base_url, session=operator, timeout=10, verify=operator.verify)
            assert response.status_code in (200, 400, 404), response.text
            if response.status_code == 400:  # only "index and atLeast together", which OpenAPI
                assert "not both" in response.text  # parameters cannot express
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        reads()

    for operation_id in (
        "transferLeadership",
        "addLearner",
        "promoteLearner",
        "removeMember",
        "createBackup",
    ):
        operation = schema.find_operation_by_id(operation_id)

        @settings(max_examples=10, **BOUNDED)
        @given(case=operation.as_strategy())
        def mutations(case: Any) -> None:
            response = case.call(base_url=base_url, session=trader, timeout=10, verify=trader.verify)
            assert response.status_code == 403, response.text
            case.validate_response(response)

        mutations()
    assert _observed(node, operator) == before
