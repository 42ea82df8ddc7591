"""Runtime pods: created when missing, replaced when outdated, one serving member at a time.

A pod's spec cannot be changed in place, so an outdated pod (its ``hive.dev/applied-hash`` is not
the hash of the pod we would build now: a new version, new resources, a changed runtime config)
is deleted and created again at the next reconcile, keeping its claim and so its log. The order
is the leader-aware rolling update:

- a missing pod is created at once (all ordinals in parallel, as a new cluster needs);
- an outdated pod that is not serving (no ready report from its runtime: pending, crashing,
  unreachable) is replaced at once: it is not part of the quorum, and waiting on it could wait
  forever (a pod that cannot schedule until its spec is fixed);
- an outdated serving pod is replaced only when every pod exists, none is terminating and every
  member reports ready, so at most one serving member is ever down for a rollout; followers go
  first (highest ordinal first), the leader last. Deleting the leader's pod sends it SIGTERM, on
  which the runtime hands leadership to its most caught-up voter before exiting (docs/runtime.md,
  "Graceful leave"), so the last step costs a transfer, not an election.

Labels and annotations of a pod can change in place; those differences are patched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hive_operator.plan.compare import APPLIED_HASH, differences, with_applied_hash
from hive_operator.plan.model import Action, Create, Delete, Event, MemberReport, Update


@dataclass(frozen=True)
class PodPlan:
    actions: tuple[Action, ...]
    outdated: tuple[str, ...]  # pods whose spec is not the desired one yet (rollout pending)
    message: str | None  # what the rollout is doing, for the Progressing condition
    stalled: str | None = None  # a replaced pod not ready within the step timeout (Degraded)


@dataclass(frozen=True)
class RolloutPolicy:
    """``spec.upgrade`` as the pod planner needs it."""

    hold: str | None = None  # why no outdated pod may be replaced now (paused, outside windows)
    step: timedelta | None = None  # how long a replaced pod may take to serve again
    now: datetime | None = None


def _hash(obj: Mapping[str, Any]) -> str | None:
    value = (obj.get("metadata", {}).get("annotations") or {}).get(APPLIED_HASH)
    return value if isinstance(value, str) else None


def _images(obj: Mapping[str, Any]) -> list[Any]:
    return [container.get("image") for container in obj.get("spec", {}).get("containers", [])]


def _outdated(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> bool:
    """Not the pod we would build now; the image is compared too, as the one spec field anyone
    can change on a running pod."""
    return _hash(observed) != _hash(desired) or _images(observed) != _images(desired)


def _terminating(obj: Mapping[str, Any]) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def _metadata_differences(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    wanted = {
        "labels": desired["metadata"].get("labels") or {},
        "annotations": desired["metadata"].get("annotations") or {},
    }
    return [f"metadata.{path}" for path in differences(wanted, observed["metadata"])]


def _metadata_only(pod: Mapping[str, Any]) -> dict[str, Any]:
    meta = pod["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
        },
    }


def plan_pods(
    desired: Sequence[Mapping[str, Any]],
    observed: Mapping[str, Mapping[str, Any]],
    reports: Mapping[str, MemberReport],
    *,
    leader: str | None,
    policy: RolloutPolicy = RolloutPolicy(),
) -> PodPlan:
    """Actions for the runtime pods: ``desired`` pods as built, ``observed`` pods by name, the
    members' reports by pod name and the pod that leads (see the module docstring). With
    ``policy.hold`` set no outdated pod is replaced (missing pods are still created)."""
    actions: list[Action] = []
    outdated: list[str] = []
    serving_outdated: list[str] = []
    settled = True  # every desired pod exists and none is terminating
    for pod in desired:
        name = pod["metadata"]["name"]
        stamped = with_applied_hash(dict(pod))
        current = observed.get(name)
        if current is None:
            settled = False
            actions.append(Create(stamped))
            actions.append(Event("Normal", "Created", f"created Pod {name}"))
            continue
        if _terminating(current):
            settled = False
            continue
        if _outdated(stamped, current):
            outdated.append(name)
            report = reports.get(name)
            if report is not None and report.ready:
                serving_outdated.append(name)
            elif policy.hold is None:
                actions.append(Delete("v1", "Pod", name))
                actions.append(
                    Event("Normal", "Replacing", f"replacing Pod {name} (not serving): its spec changed")
                )
            continue
        changed = _metadata_differences(stamped, current)
        if changed:
            actions.append(Update(_metadata_only(stamped), tuple(changed)))
            actions.append(Event("Normal", "Updated", f"updated Pod {name}: {', '.join(changed)}"))

    names = [pod["metadata"]["name"] for pod in desired]
    everyone_serving = all(name in reports and reports[name].ready for name in names)
    message = None
    if outdated:
        message = f"{len(outdated)} of {len(names)} pods to replace: {', '.join(sorted(outdated))}"
    replacing_now = any(isinstance(action, Delete) for action in actions)
    if outdated and policy.hold is not None:
        message = f"{message}; held: {policy.hold}"
    elif serving_outdated and settled and everyone_serving and not replacing_now:
        # ``desired`` is in ordinal order, so the highest ordinal is the last follower listed.
        followers = [name for name in reversed(names) if name in serving_outdated and name != leader]
        victim = followers[0] if followers else serving_outdated[0]
        role = "follower" if victim != leader else "leader; it hands leadership over before exiting"
        actions.append(Delete("v1", "Pod", victim))
        actions.append(Event("Normal", "RollingUpdate", f"replacing Pod {victim} ({role}): its spec changed"))
    elif serving_outdated:
        message = f"{message}; waiting for every member to be ready before replacing the next"
    return PodPlan(
        actions=tuple(actions),
        outdated=tuple(outdated),
        message=message,
        stalled=_stalled(desired, observed, reports, outdated, policy),
    )


def _stalled(
    desired: Sequence[Mapping[str, Any]],
    observed: Mapping[str, Mapping[str, Any]],
    reports: Mapping[str, MemberReport],
    outdated: Sequence[str],
    policy: RolloutPolicy,
) -> str | None:
    """During a rollout, an up-to-date pod that has not served for ``policy.step`` since it was
    created holds the rollout (nothing else is replaced until every member is ready): say so."""
    if not outdated or policy.step is None or policy.now is None:
        return None
    late = []
    for pod in desired:
        name = pod["metadata"]["name"]
        current = observed.get(name)
        if current is None or name in outdated or (name in reports and reports[name].ready):
            continue
        created = _created(current)
        if created is not None and policy.now - created > policy.step:
            late.append(name)
    if not late:
        return None
    return (
        f"{', '.join(sorted(late))} not ready within spec.upgrade.timeouts.step "
        f"({int(policy.step.total_seconds())}s) of being replaced; the rollout waits"
    )


def _created(obj: Mapping[str, Any]) -> datetime | None:
    text = obj.get("metadata", {}).get("creationTimestamp")
    if not isinstance(text, str):
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
