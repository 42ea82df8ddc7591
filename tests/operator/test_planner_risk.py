"""``spec.risk`` reaches the runtime as its cluster-wide risk defaults: sent to the leader when its
reported hash is not the spec's, never when it is, and a bad ConfigMap reference is named."""

from __future__ import annotations

from typing import Any

from hive_operator.api.risk import RiskLimits
from hive_operator.plan import Event, MemberReport, Plan, SetRiskDefaults, plan
from hive_operator.plan.risk import expected_hash, risk_defaults
from hive_runtime.trading.engine import Engine
from hive_runtime.trading.state import SymbolLimits
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import CONTEXT, NOW, cluster_manifest, parse
from tests.operator.test_planner import REFERENCED, _converge, _healthy_reports

LIMITS = {"maxOrderQuantity": 100, "maxOrderNotional": 5000, "maxGrossPosition": 900, "maxNetPosition": 800}


def _plan(api: ApiServerModel, **observed: Any) -> Plan:
    observed.setdefault("referenced_secrets", REFERENCED)
    return plan(api.observed(**observed), context=CONTEXT, now=NOW)


def _sent(result: Plan) -> list[SetRiskDefaults]:
    return [a for a in result.actions if isinstance(a, SetRiskDefaults)]


def _with_hash(reports: dict[str, MemberReport], value: str | None) -> dict[str, MemberReport]:
    return {pod: MemberReport(**{**r.__dict__, "risk_defaults_hash": value}) for pod, r in reports.items()}


def test_the_hash_is_the_one_the_runtime_reports() -> None:
    limits = RiskLimits.model_validate(LIMITS)
    engine = Engine()
    engine.set_risk_defaults(SymbolLimits(100, 5000, 900, 800), limits.credit_limit)
    assert expected_hash(risk_defaults(limits)) == engine.risk_defaults_hash


def test_limits_are_sent_to_the_leader_until_it_reports_them() -> None:
    api = ApiServerModel(parse(cluster_manifest(risk={"limits": LIMITS})))
    _converge(api)
    reports = _with_hash(_healthy_reports(api), None)
    [sent] = _sent(_plan(api, members=reports))
    assert sent.leader == "alpha-0" and sent.defaults.max_order_quantity == 100
    assert sent.expected_hash == expected_hash(risk_defaults(RiskLimits.model_validate(LIMITS)))
    events = [a for a in _plan(api, members=reports).actions if isinstance(a, Event)]
    assert [e.reason for e in events if e.reason == "RiskDefaultsSent"] == ["RiskDefaultsSent"]
    landed = _with_hash(reports, sent.expected_hash)
    result = _plan(api, members=landed)
    assert not _sent(result)
    api.apply(result)
    assert _plan(api, members=landed).actions == (), "a quiet reconcile sends nothing"
    assert {m.risk_defaults_hash for m in result.status.members} == {sent.expected_hash}


def test_nothing_is_sent_without_limits_or_without_a_leader() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    assert not _sent(_plan(api, members=_healthy_reports(api)))
    api = ApiServerModel(parse(cluster_manifest(risk={"limits": LIMITS})))
    _converge(api)
    followers = {
        pod: MemberReport(**{**r.__dict__, "role": "follower"}) for pod, r in _healthy_reports(api).items()
    }
    assert not _sent(_plan(api, members=followers))


def test_a_config_map_reference_is_read_and_a_bad_one_is_named() -> None:
    api = ApiServerModel(parse(cluster_manifest(risk={"configMapRef": {"name": "limits"}})))
    _converge(api, risk_config_text="maxOrderQuantity: 7\n")
    reports = _healthy_reports(api)
    [sent] = _sent(_plan(api, members=reports, risk_config_text="maxOrderQuantity: 7\n"))
    assert sent.defaults.max_order_quantity == 7
    missing = _plan(api, members=reports, risk_config_text=None)
    degraded = next(c for c in missing.status.conditions if c.type == "Degraded")
    assert "spec.risk.configMapRef (ConfigMap limits, key risk.yaml) does not exist" in degraded.message
    wrong = _plan(api, members=reports, risk_config_text="maxOrderQuantity: -1\n")
    degraded = next(c for c in wrong.status.conditions if c.type == "Degraded")
    assert "is not valid limits" in degraded.message and not _sent(wrong)
