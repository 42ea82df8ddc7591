"""The planner in ``tls.mode: certManager``: Certificates instead of a CA, pods only once their own
certificate is usable, cert-manager's Secrets never written or deleted, and the condition saying
what is awaited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hive_operator.plan import Create, Delete, Plan, Update, plan
from hive_operator.specs.certmanager import expected_certificates
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import CONTEXT, NOW, cluster_manifest, parse
from tests.operator.test_certmanager_specs import _ca, _secret


def _cluster_model() -> ApiServerModel:
    tls = {"mode": "certManager", "issuerRef": {"name": "hive-ca"}}
    return ApiServerModel(parse(cluster_manifest(replicas=3, tls=tls)))


def _plan(api: ApiServerModel, issued: dict[str, Any], **observed: Any) -> Plan:
    return plan(api.observed(issued_secrets=issued, **observed), context=CONTEXT, now=NOW + timedelta(days=1))


def _condition(result: Plan, kind: str) -> Any:
    return next(c for c in result.status.conditions if c.type == kind)


def _written(result: Plan) -> list[tuple[str, str]]:
    return [
        (a.object["kind"], a.object["metadata"]["name"])
        for a in result.actions
        if isinstance(a, Create | Update)
    ]


def test_certificates_are_asked_for_and_no_ca_or_tls_secret_is_made() -> None:
    api = _cluster_model()
    result = _plan(api, {})
    written = _written(result)
    assert sorted(name for kind, name in written if kind == "Certificate") == [
        "alpha-0-tls",
        "alpha-1-tls",
        "alpha-2-tls",
        "alpha-operator-tls",
    ]
    secrets = sorted(name for kind, name in written if kind == "Secret")
    assert secrets == ["alpha-0-audit", "alpha-1-audit", "alpha-2-audit"], "no CA, no TLS Secret of ours"
    assert not [name for kind, name in written if kind == "Pod"], "no pod before its certificate"
    condition = _condition(result, "CertificatesReady")
    assert condition.status == "False" and condition.reason == "WaitingForCertManager"
    assert "Secret alpha-0-tls: the Secret does not exist yet" in condition.message


def test_pods_follow_their_own_certificates_and_issued_secrets_are_left_alone() -> None:
    api = _cluster_model()
    api.apply(_plan(api, {}))
    ca = _ca()
    leaves = {leaf.name: leaf for leaf in expected_certificates(api.cluster, CONTEXT)}
    issued = {"alpha-1-tls": _secret(ca, leaves["alpha-1-tls"])}
    result = _plan(api, issued)
    assert [name for kind, name in _written(result) if kind == "Pod"] == ["alpha-1"]
    api.apply(result)
    issued |= {name: _secret(ca, leaf) for name, leaf in leaves.items()}
    result = _plan(api, issued)
    assert sorted(name for kind, name in _written(result) if kind == "Pod") == ["alpha-0", "alpha-2"]
    condition = _condition(result, "CertificatesReady")
    assert condition.status == "True" and condition.reason == "CertificatesIssued"
    assert result.status.certificates is not None and result.status.certificates.leaf_not_after
    assert not [a for a in result.actions if isinstance(a, Delete)]
    api.apply(result)
    assert _plan(api, issued).actions == ()
    # A Secret gone bad later never takes its running pod away.
    issued["alpha-2-tls"] = _secret(ca, leaves["alpha-2-tls"], drop="tls.key")
    later = _plan(api, issued)
    assert not [a for a in later.actions if isinstance(a, Delete)]
    assert _condition(later, "CertificatesReady").status == "False"


def test_without_cert_manager_nothing_is_written_and_the_reason_is_named() -> None:
    api = _cluster_model()
    result = _plan(api, {}, available_kinds=frozenset())
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
    condition = _condition(result, "CertificatesReady")
    assert condition.reason == "CertManagerNotInstalled" and "cert-manager.io/v1" in condition.message


def test_a_duration_cert_manager_would_refuse_is_named_and_nothing_is_written() -> None:
    tls = {"mode": "certManager", "issuerRef": {"name": "hive-ca"}, "duration": "30m", "renewBefore": "10m"}
    api = ApiServerModel(parse(cluster_manifest(replicas=3, tls=tls)))
    result = _plan(api, {})
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
    condition = _condition(result, "CertificatesReady")
    assert condition.reason == "CertificateSpecRefused" and "spec.tls.duration" in condition.message
