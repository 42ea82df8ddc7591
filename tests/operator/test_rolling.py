"""Runtime pods are replaced, never edited: one serving member at a time, followers first, the
leader last; pods that serve nothing are replaced at once; terminating pods are waited for."""

from __future__ import annotations

from typing import Any

from hive_operator.plan import Create, Delete, Event, MemberReport, Plan
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import cluster_manifest, parse
from tests.operator.test_planner import _conditions, _converge, _healthy_reports, _plan, _respec


def _replaced(result: Plan) -> list[str]:
    return [a.name for a in result.actions if isinstance(a, Delete) and a.kind == "Pod"]


def _created(result: Plan) -> list[str]:
    return [a.object["metadata"]["name"] for a in result.actions if isinstance(a, Create)]


def _reports(api: ApiServerModel, *, leader: str, down: set[str] = frozenset()) -> dict[str, MemberReport]:  # type: ignore[assignment]
    """Every pod that exists answers ready, except ``down``; ``leader`` leads."""
    reports = _healthy_reports(api)
    result = {}
    for pod, report in reports.items():
        if ("Pod", pod) not in api.objects or pod in down:
            continue
        role = "leader" if pod == leader else "follower"
        result[pod] = MemberReport(**{**report.__dict__, "role": role})
    return result


def test_an_upgrade_replaces_followers_one_at_a_time_and_the_leader_last() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    _respec(api, version="1.1.0")
    leader = "alpha-1"
    order: list[str] = []
    for _ in range(12):
        result = _plan(api, members=_reports(api, leader=leader))
        victims = _replaced(result)
        assert len(victims) <= 1, "at most one serving member goes down at once"
        if victims:
            order += victims
            [event] = [a for a in result.actions if isinstance(a, Event) and a.reason == "RollingUpdate"]
            role = "leader" if victims[0] == leader else "follower"
            assert f"replacing Pod {victims[0]} ({role}" in event.message
            assert _conditions(result)["Progressing"].reason == "RollingUpdate"
            api.apply(result)
            # The replaced pod is gone: the next plan creates it, and replaces nobody else
            # until it answers ready again.
            gone = _plan(api, members=_reports(api, leader=leader if victims[0] != leader else "alpha-0"))
            assert _created(gone) == victims and not _replaced(gone)
            api.apply(gone)
            if victims[0] == leader:
                leader = "alpha-0"  # the runtime handed over on SIGTERM
            not_ready_yet = _plan(api, members=_reports(api, leader=leader, down={victims[0]}))
            assert not _replaced(not_ready_yet)
            progressing = _conditions(not_ready_yet)["Progressing"]
            assert progressing.status == "True"
            if len(order) < 3:
                assert "waiting for every member to be ready" in progressing.message
            api.apply(not_ready_yet)
            continue
        api.apply(result)
        if not result.actions:
            break
    assert order == ["alpha-2", "alpha-0", "alpha-1"]
    for k in range(3):
        assert api.objects[("Pod", f"alpha-{k}")]["spec"]["containers"][0]["image"].endswith(":1.1.0")


def test_pods_that_serve_nothing_are_replaced_at_once() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    _respec(api, resources={"cpu": 4})
    result = _plan(api, members={})  # nothing answers: a new cluster stuck, say, on scheduling
    assert sorted(_replaced(result)) == ["alpha-0", "alpha-1", "alpha-2"]
    reasons = [a.reason for a in result.actions if isinstance(a, Event)]
    assert reasons.count("Replacing") == 3


def test_a_serving_pod_waits_while_another_pod_is_missing_or_terminating() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    _respec(api, version="1.1.0")
    api.objects[("Pod", "alpha-0")]["metadata"]["deletionTimestamp"] = "2026-03-01T00:00:00Z"
    reports = _reports(api, leader="alpha-1")
    result = _plan(api, members=reports)
    assert _replaced(result) == [] and _created(result) == []
    del api.objects[("Pod", "alpha-0")]
    result = _plan(api, members=_reports(api, leader="alpha-1"))
    assert _created(result) == ["alpha-0"] and _replaced(result) == []


def test_an_image_changed_on_a_running_pod_is_undone_by_replacement() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    api.objects[("Pod", "alpha-2")]["spec"]["containers"][0]["image"] = "evil:latest"
    result = _plan(api, members=_reports(api, leader="alpha-0"))
    assert _replaced(result) == ["alpha-2"]


def test_a_secret_rotation_or_status_change_replaces_no_pod() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    reports: dict[str, Any] = _reports(api, leader="alpha-0")
    result = _plan(api, members=reports)
    assert not _replaced(result)
