"""spec.upgrade gates rollouts: paused holds every replacement, maintenance windows (spanning
midnight too) say when replacements may start, and a replaced pod that does not serve within the
step timeout is reported in Degraded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hive_operator.api.operations import MaintenanceWindow, Upgrade
from hive_operator.plan import Delete, Plan, plan
from hive_operator.plan.windows import in_window, next_opening, rollout_hold
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import CONTEXT, NOW, cluster_manifest, parse
from tests.operator.test_planner import REFERENCED, _converge, _healthy_reports

SATURDAY_NIGHT = {"days": ["Sat"], "start": "22:00", "duration": "4h"}


def _window(**values: Any) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate_json(json.dumps(values))


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (datetime(2026, 12, 5, 21, 59, tzinfo=UTC), False),  # Saturday, before it opens
        (datetime(2026, 12, 5, 22, 0, tzinfo=UTC), True),
        (datetime(2026, 12, 6, 1, 59, tzinfo=UTC), True),  # Sunday: the window ran past midnight
        (datetime(2026, 12, 6, 2, 0, tzinfo=UTC), False),
        (datetime(2026, 12, 9, 23, 0, tzinfo=UTC), False),  # Wednesday
    ],
)
def test_a_window_opens_on_its_days_and_may_run_past_midnight(moment: datetime, inside: bool) -> None:
    assert in_window([_window(**SATURDAY_NIGHT)], moment) is inside


def test_no_windows_means_any_time_and_the_next_opening_is_named() -> None:
    assert in_window([], NOW)
    wednesday = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    assert next_opening([_window(**SATURDAY_NIGHT)], wednesday) == datetime(2026, 12, 12, 22, 0, tzinfo=UTC)
    upgrade = Upgrade.model_validate_json(json.dumps({"maintenanceWindows": [SATURDAY_NIGHT]}))
    assert rollout_hold(upgrade, wednesday) == (
        "outside spec.upgrade.maintenanceWindows (next opens Sat 2026-12-12 22:00 UTC)"
    )
    assert (
        rollout_hold(Upgrade.model_validate_json('{"paused": true}'), wednesday)
        == "spec.upgrade.paused is true"
    )


def _plan(api: ApiServerModel, *, now: datetime, **observed: Any) -> Plan:
    observed.setdefault("referenced_secrets", REFERENCED)
    return plan(api.observed(**observed), context=CONTEXT, now=now)


def _upgrade(api: ApiServerModel, upgrade: dict[str, Any]) -> None:
    api.cluster = parse(cluster_manifest(version="1.3.0", upgrade=upgrade)).model_copy(
        update={"status": api.cluster.status}
    )


def test_paused_or_outside_a_window_no_pod_is_replaced_and_progressing_says_why() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    reports = _healthy_reports(api)
    _upgrade(api, {"paused": True})
    held = _plan(api, now=NOW, members=reports)
    assert not [a for a in held.actions if isinstance(a, Delete)]
    progressing = next(c for c in held.status.conditions if c.type == "Progressing")
    assert (
        progressing.reason == "RollingUpdate" and "held: spec.upgrade.paused is true" in progressing.message
    )
    assert not [a for a in _plan(api, now=NOW, members={}).actions if isinstance(a, Delete)], (
        "not even pods that serve nothing"
    )
    _upgrade(api, {"maintenanceWindows": [SATURDAY_NIGHT]})
    wednesday = datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
    assert not [a for a in _plan(api, now=wednesday, members=reports).actions if isinstance(a, Delete)]
    saturday = datetime(2026, 12, 12, 23, 0, tzinfo=UTC)
    assert [a.name for a in _plan(api, now=saturday, members=reports).actions if isinstance(a, Delete)] == [
        "alpha-2"
    ]


def test_a_replaced_pod_not_serving_within_the_step_timeout_is_reported() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    _converge(api)
    reports = _healthy_reports(api)
    _upgrade(api, {"timeouts": {"step": "10m"}})
    created = datetime(2026, 3, 1, tzinfo=UTC)  # the model's creationTimestamp
    first = _plan(api, now=created, members=reports)
    api.apply(first)
    replaced = next(a.name for a in first.actions if isinstance(a, Delete))
    api.apply(_plan(api, now=created, members=reports))  # created again, on 1.3.0
    down = {pod: r for pod, r in reports.items() if pod != replaced}
    soon = _plan(api, now=created + timedelta(minutes=5), members=down)
    assert next(c for c in soon.status.conditions if c.type == "Degraded").reason != "RolloutStalled"
    late = _plan(api, now=created + timedelta(minutes=11), members=down)
    degraded = next(c for c in late.status.conditions if c.type == "Degraded")
    assert degraded.reason == "RolloutStalled" and replaced in degraded.message and "600s" in degraded.message
    assert not [a for a in late.actions if isinstance(a, Delete)], "nothing else is replaced meanwhile"
