"""spec.replicas as Raft membership: a new ordinal is added as a learner and promoted once it holds
the log; a removed ordinal leaves the configuration before its pod goes (and a leader hands over
first); one change at a time; nothing beyond spec.replicas is deleted while no leader says."""

from __future__ import annotations

from typing import Any

from hive_operator.plan import ChangeMembership, Delete, LeaderView, MemberReport, Plan, plan
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import CONTEXT, NOW, cluster_manifest, parse
from tests.operator.test_planner import REFERENCED, _converge, _respec


def _plan(api: ApiServerModel, **observed: Any) -> Plan:
    observed.setdefault("referenced_secrets", REFERENCED)
    return plan(api.observed(**observed), context=CONTEXT, now=NOW)


def _report(k: int, *, leader: bool = False, voter: bool = True) -> MemberReport:
    return MemberReport(
        pod=f"alpha-{k}",
        node_id=k + 1,
        role="leader" if leader else "follower",
        voter=voter,
        term=2,
        version="1.2.3",
        ready=voter,
    )


def _view(voters: set[int], learners: set[int] = frozenset(), **kwargs: Any) -> LeaderView:  # type: ignore[assignment]
    values: dict[str, Any] = {
        "leader": "alpha-0",
        "commit_index": 100,
        "voters": frozenset(voters),
        "learners": frozenset(learners),
        "match_index": {node: 100 for node in voters | learners},
        "change_pending": False,
    }
    values.update(kwargs)
    return LeaderView(**values)


def _steps(result: Plan) -> list[tuple[str, int]]:
    return [(a.step, a.node_id) for a in result.actions if isinstance(a, ChangeMembership)]


def _deleted(result: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.name) for a in result.actions if isinstance(a, Delete)]


def test_scale_up_adds_a_learner_then_promotes_it_once_it_holds_the_log() -> None:
    api = ApiServerModel(parse(cluster_manifest(replicas=3, scheduling={"antiAffinity": "Preferred"})))
    _converge(api)
    _respec(api, replicas=5, scheduling={"antiAffinity": "Preferred"})
    api.apply(_plan(api))  # creates alpha-3 and alpha-4 (joining)
    reports = {f"alpha-{k}": _report(k, leader=k == 0) for k in range(3)}
    waiting = _plan(api, members=reports, leader_view=_view({1, 2, 3}))
    assert _steps(waiting) == [], "alpha-3 does not answer yet: nothing to add"
    assert not waiting.recheck_soon, "a pod that has not started is waited for at the timer's pace"
    reports["alpha-3"] = _report(3, voter=False)
    added = _plan(api, members=reports, leader_view=_view({1, 2, 3}))
    assert _steps(added) == [("add", 4)]
    assert added.recheck_soon, "a Raft step wakes no watch: the handlers look again shortly"
    progressing = next(c for c in added.status.conditions if c.type == "Progressing")
    assert progressing.reason == "ChangingMembership" and "alpha-3" in progressing.message
    behind = _view({1, 2, 3}, {4}, match_index={1: 100, 2: 100, 3: 100, 4: 40})
    catching_up = _plan(api, members=reports, leader_view=behind)
    assert _steps(catching_up) == [] and catching_up.recheck_soon
    assert _steps(_plan(api, members=reports, leader_view=_view({1, 2, 3}, {4}))) == [("promote", 4)]
    pending = _view({1, 2, 3}, {4}, change_pending=True)
    assert _steps(_plan(api, members=reports, leader_view=pending)) == [], "one change at a time"
    reports["alpha-3"] = _report(3)
    reports["alpha-4"] = _report(4, voter=False)
    assert _steps(_plan(api, members=reports, leader_view=_view({1, 2, 3, 4}))) == [("add", 5)]
    done = _plan(api, members=reports, leader_view=_view({1, 2, 3, 4, 5}))
    assert _steps(done) == []
    assert next(c for c in done.status.conditions if c.type == "Progressing").reason != "ChangingMembership"


def test_scale_down_removes_members_before_their_pods_and_then_their_claims() -> None:
    api = ApiServerModel(parse(cluster_manifest(replicas=5, scheduling={"antiAffinity": "Preferred"})))
    _converge(api)
    _respec(api, replicas=3, scheduling={"antiAffinity": "Preferred"})
    reports = {f"alpha-{k}": _report(k, leader=k == 0) for k in range(5)}
    first = _plan(api, members=reports, leader_view=_view({1, 2, 3, 4, 5}))
    assert _steps(first) == [("remove", 5)], "highest ordinal first"
    assert ("Pod", "alpha-3") not in _deleted(first) and ("Pod", "alpha-4") not in _deleted(first)
    api.apply(first)
    second = _plan(api, members=reports, leader_view=_view({1, 2, 3, 4}))
    assert _steps(second) == [("remove", 4)]
    assert ("Pod", "alpha-4") in _deleted(second), "out of the configuration: its pod goes"
    assert ("Pod", "alpha-3") not in _deleted(second), "still a member: its pod stays"
    assert ("PersistentVolumeClaim", "data-alpha-4") not in _deleted(second), "not before its pod is gone"
    api.apply(second)
    third = _plan(api, members=reports, leader_view=_view({1, 2, 3}))
    assert ("Pod", "alpha-3") in _deleted(third)
    assert ("PersistentVolumeClaim", "data-alpha-4") in _deleted(third)
    api.apply(third)
    fourth = _plan(api, members=reports, leader_view=_view({1, 2, 3}))
    assert ("PersistentVolumeClaim", "data-alpha-3") in _deleted(fourth)
    api.apply(fourth)
    assert _plan(api, members=reports, leader_view=_view({1, 2, 3})).actions == ()


def test_a_leader_beyond_replicas_hands_over_before_it_is_removed() -> None:
    api = ApiServerModel(parse(cluster_manifest(replicas=5, scheduling={"antiAffinity": "Preferred"})))
    _converge(api)
    _respec(api, replicas=3, scheduling={"antiAffinity": "Preferred"})
    reports = {f"alpha-{k}": _report(k, leader=k == 4) for k in range(5)}
    result = _plan(api, members=reports, leader_view=_view({1, 2, 3, 4, 5}, leader="alpha-4"))
    assert _steps(result) == [("transfer", 5)]
    assert [a.leader for a in result.actions if isinstance(a, ChangeMembership)] == ["alpha-4"]


def test_without_a_leader_nothing_beyond_replicas_is_deleted() -> None:
    api = ApiServerModel(parse(cluster_manifest(replicas=5, scheduling={"antiAffinity": "Preferred"})))
    _converge(api)
    _respec(api, replicas=3, scheduling={"antiAffinity": "Preferred"})
    result = _plan(api)
    assert not [d for d in _deleted(result) if d[0] in ("Pod", "PersistentVolumeClaim")]
    assert _steps(result) == []
