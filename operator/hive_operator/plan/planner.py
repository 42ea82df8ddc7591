"""The reconcile decision: observed state in, an ordered list of small actions and the status out.

Pure: the Kubernetes layer reads everything (children, referenced Secrets' key names, member
reports) into :class:`~hive_operator.plan.model.Observed`, calls :func:`plan` with the clock's
``now``, and performs the actions in order. The rules:

- ``spec.paused``: no object changes at all; the Paused condition says so.
- A referenced Secret or key that does not exist: SecretsReady is False naming it, and no object
  is created, changed or deleted (no partial rollout, nothing that could crash-loop).
- Otherwise the desired objects (PKI reconciled first, so rotations ride on Secret updates) are
  compared with the observed ones on the fields we own; only differences become writes.
- Events accompany writes and condition transitions, never a quiet reconcile, and the status is
  patched only when it changed: an up-to-date cluster costs zero writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hive_operator.api import HiveCluster
from hive_operator.api.security import TlsMode
from hive_operator.api.status import CertificateStatus, ConditionStatus, ConditionType
from hive_operator.api.types import parse_duration
from hive_operator.pki import ClusterPki, PodTrust, RotationPolicy, ensure_audit_keys, reconcile_pki
from hive_operator.plan.compare import differences, is_immutable, keep_immutable, with_applied_hash
from hive_operator.plan.issued import creatable_ordinals, judge_issued
from hive_operator.plan.membership import plan_membership
from hive_operator.plan.model import (
    Action,
    Create,
    Delete,
    Event,
    Observed,
    PatchStatus,
    Plan,
    SetRiskDefaults,
    Update,
)
from hive_operator.plan.pods import RolloutPolicy, plan_pods
from hive_operator.plan.risk import desired_limits, expected_hash, landed, risk_defaults
from hive_operator.plan.status import StatusInputs, Verdict, compute_status, leader_of
from hive_operator.plan.windows import rollout_hold
from hive_operator.specs import (
    CREATION_ORDER,
    Membership,
    OperatorContext,
    desired_objects,
    leaf_requests,
    membership_from_config_map,
    names_of,
    read_audit_keys,
    read_pki,
    referenced_secrets,
)

OPTIONAL_KINDS = {
    "ServiceMonitor": "spec.monitoring.serviceMonitor",
    "PrometheusRule": "spec.monitoring.prometheusRule",
}


def missing_secrets(cluster: HiveCluster, present: Mapping[str, frozenset[str]]) -> list[str]:
    """One message per referenced Secret or key that does not exist, naming it and its field."""
    problems = []
    for reference in referenced_secrets(cluster):
        keys = present.get(reference.name)
        if keys is None:
            problems.append(f"Secret {reference.name} ({reference.field}) does not exist")
            continue
        absent = [key for key in reference.keys if key not in keys]
        if absent:
            problems.append(f"Secret {reference.name} ({reference.field}) has no key {', '.join(absent)}")
    return problems


def rotation_policy(cluster: HiveCluster) -> RotationPolicy:
    tls = cluster.spec.tls
    return RotationPolicy(
        leaf_duration=parse_duration(tls.duration),
        ca_duration=parse_duration(tls.ca_duration),
        renew_before=parse_duration(tls.renew_before),
    )


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


KEPT_WHEN_UNWANTED = frozenset({"PersistentVolumeClaim"})  # data goes only by retentionPolicy


def _object_actions(
    desired: list[dict[str, Any]],
    observed: Mapping[tuple[str, str], Mapping[str, Any]],
    *,
    protected: frozenset[tuple[str, str]] = frozenset(),
) -> tuple[list[Action], list[str]]:
    """Creates, updates and deletes for every kind but Pod (see :mod:`hive_operator.plan.pods`)."""
    actions: list[Action] = []
    refusals: list[str] = []
    wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in desired}
    for obj in sorted(desired, key=lambda o: CREATION_ORDER.index(o["kind"])):
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind == "Pod":
            continue
        stamped = with_applied_hash(obj)
        current = observed.get((kind, name))
        if current is None:
            actions.append(Create(stamped))
            actions.append(Event("Normal", "Created", f"created {kind} {name}"))
            continue
        fields = differences(stamped, current)
        frozen = [path for path in fields if is_immutable(kind, path)]
        if frozen:
            refusals.append(f"{kind} {name}: {', '.join(frozen)} cannot change after creation")
        fields = [path for path in fields if not is_immutable(kind, path)]
        if fields:
            actions.append(Update(keep_immutable(stamped, current), tuple(fields)))
            actions.append(Event("Normal", "Updated", f"updated {kind} {name}: {', '.join(fields)}"))
    for kind, name in sorted(set(observed) - wanted, key=lambda key: -CREATION_ORDER.index(key[0])):
        if kind in CREATION_ORDER and kind not in KEPT_WHEN_UNWANTED and (kind, name) not in protected:
            api_version = str(observed[(kind, name)].get("apiVersion", ""))
            actions.append(Delete(api_version, kind, name))
            actions.append(Event("Normal", "Deleted", f"deleted {kind} {name}: no longer wanted"))
    return actions, refusals


def _transition_events(before: HiveCluster, after: list[Any]) -> list[Action]:
    previous = {c.type: c for c in (before.status.conditions if before.status is not None else [])}
    watched = {
        ConditionType.SECRETS_READY.value: (ConditionStatus.FALSE, "Warning"),
        ConditionType.PAUSED.value: (ConditionStatus.TRUE, "Normal"),
        ConditionType.DEGRADED.value: (ConditionStatus.TRUE, "Warning"),
        ConditionType.CPU_ISOLATED.value: (ConditionStatus.FALSE, "Warning"),
    }
    events: list[Action] = []
    for condition in after:
        if condition.type not in watched:
            continue
        bad, kind = watched[condition.type]
        old = previous.get(condition.type)
        changed = old is None or old.status != condition.status or old.message != condition.message
        if condition.status == bad and changed:
            events.append(Event(kind, condition.reason, condition.message))
        elif (
            condition.type == ConditionType.PAUSED.value and old is not None and old.status == bad and changed
        ):
            events.append(Event("Normal", "Resumed", "spec.paused is false: reconciling again"))
    return events


def unsupported(cluster: HiveCluster) -> list[str]:
    """Spec fields this operator version accepts but does not act on, each named, so that nobody
    mistakes them for done (an empty cluster must never pass for a restored one)."""
    spec = cluster.spec
    found = []
    if spec.bootstrap is not None and spec.bootstrap.from_backup is not None:
        found.append(
            "spec.bootstrap.fromBackup: restoring is not implemented by this operator version; "
            "nothing is created (an empty cluster would pass for a restored one)"
        )
    if spec.backup is not None:
        found.append(
            "spec.backup: scheduled backups are not taken by this operator version (the encryption key "
            "is mounted; POST /backups on the leader takes one, see docs/operations.md)"
        )
    if spec.canary is not None:
        found.append("spec.canary: canary rollouts are not implemented by this operator version")
    return found


def _beyond_replicas(observed: Observed, kind: str, prefix: str = "") -> dict[str, int]:
    """Observed objects of ``kind`` named ``<prefix><cluster>-<k>`` with ``k >= spec.replicas``."""
    names = names_of(observed.cluster)
    found = {}
    for found_kind, name in observed.objects:
        ordinal = names.ordinal_of(name.removeprefix(prefix)) if found_kind == kind else None
        if ordinal is not None and ordinal >= observed.cluster.spec.replicas:
            found[name] = ordinal
    return found


def _still_members(observed: Observed, keep: frozenset[int]) -> frozenset[tuple[str, str]]:
    """Pods beyond ``spec.replicas`` that must stay: their node is still in the Raft configuration,
    or no leader says whether it is."""
    pods = _beyond_replicas(observed, "Pod")
    if observed.leader_view is None:
        return frozenset(("Pod", name) for name in pods)
    return frozenset(("Pod", name) for name, ordinal in pods.items() if ordinal + 1 in keep)


def _claims_of_removed_members(observed: Observed) -> list[Action]:
    """A removed member's claim goes once its pod is gone: scaled up again later, that ordinal
    joins afresh instead of resuming a log from a configuration that no longer holds it."""
    if observed.leader_view is None:
        return []
    names = names_of(observed.cluster)
    actions: list[Action] = []
    for claim, ordinal in sorted(_beyond_replicas(observed, "PersistentVolumeClaim", "data-").items()):
        pod = names.pod(ordinal)
        if ("Pod", pod) in observed.objects or ordinal + 1 in observed.leader_view.members:
            continue
        actions.append(Delete("v1", "PersistentVolumeClaim", claim))
        actions.append(
            Event("Normal", "Deleted", f"deleted PersistentVolumeClaim {claim}: {pod} was removed")
        )
    return actions


def _without_foreign_claims(
    desired: list[dict[str, Any]], observed: Observed
) -> tuple[list[dict[str, Any]], list[str]]:
    """A claim of ours by name that belongs to an earlier HiveCluster of the same name (deleted
    with ``retentionPolicy: Retain``) is neither taken over nor used: its pod would resume the old
    cluster's log as if it were this one. The claim and its pod are left out, and named."""
    names = names_of(observed.cluster)
    wanted = {obj["metadata"]["name"] for obj in desired if obj["kind"] == "PersistentVolumeClaim"}
    taken = set(observed.foreign_claims) & wanted
    if not taken:
        return desired, []
    pods = {
        names.pod(ordinal)
        for ordinal in range(observed.cluster.spec.replicas)
        if names.data_claim(ordinal) in taken
    }
    kept = [
        obj
        for obj in desired
        if not (obj["kind"] == "PersistentVolumeClaim" and obj["metadata"]["name"] in taken)
        and not (
            obj["kind"] == "Pod"
            and obj["metadata"]["name"] in pods
            and ("Pod", obj["metadata"]["name"]) not in observed.objects
        )
    ]
    refusals = [
        f"PersistentVolumeClaim {claim} holds the data of an earlier HiveCluster named {names.cluster}; "
        "delete it to start that member afresh (its pod is not created meanwhile)"
        for claim in sorted(taken)
    ]
    return kept, refusals


def _risk_actions(observed: Observed) -> tuple[list[Action], str | None]:
    """Send ``spec.risk``'s limits to the leader when its ``riskDefaultsHash`` is not theirs."""
    limits, problem = desired_limits(observed.cluster, observed.risk_config_text)
    leader = leader_of(observed.members)
    if limits is None or leader is None:
        return [], problem
    defaults = risk_defaults(limits)
    wanted = expected_hash(defaults)
    applied, _ = landed(observed.members, wanted)
    if applied:
        return [], None
    message = f"sending spec.risk limits to the leader {leader} (riskDefaultsHash {wanted[:12]})"
    return [SetRiskDefaults(defaults, wanted, leader), Event("Normal", "RiskDefaultsSent", message)], None


def plan(observed: Observed, *, context: OperatorContext, now: datetime) -> Plan:
    """Decide what to do about one HiveCluster (see the module docstring)."""
    cluster = observed.cluster
    spec = cluster.spec
    names = names_of(cluster)
    pods = [names.pod(ordinal) for ordinal in range(spec.replicas)]
    secrets = {name: obj for (kind, name), obj in observed.objects.items() if kind == "Secret"}
    missing = missing_secrets(cluster, observed.referenced_secrets)
    cert_manager = spec.tls.mode is TlsMode.CERT_MANAGER
    not_done = unsupported(cluster)
    restoring = spec.bootstrap is not None and spec.bootstrap.from_backup is not None
    hold = spec.paused or bool(missing) or restoring

    actions: list[Action] = []
    refusals: list[str] = []
    rollout: str | None = None
    membership_message: str | None = None
    recheck = False
    stalled: str | None = None
    certificate_times: CertificateStatus | None = cluster.status.certificates if cluster.status else None
    next_check: datetime | None = None
    pki: ClusterPki | None = None
    pki_changes: list[Action] = []
    pod_ordinals: list[int] | None = None
    write = not hold
    if cert_manager:
        issued = judge_issued(observed, context=context, now=now)
        certificates = issued.verdict
        write = write and not issued.blocked
        existing = {names.ordinal_of(name) for kind, name in observed.objects if kind == "Pod"}
        pod_ordinals = creatable_ordinals(issued, {k for k in existing if k is not None}, spec.replicas)
        if write and issued.times is not None:
            certificate_times = issued.times
    else:
        existing_pki = read_pki(cluster, secrets)
        if hold and existing_pki is None:
            # Nothing will be written while held, so keys made now would be thrown away (and made
            # again on every reconcile: with many paused clusters that is most of the operator's CPU).
            certificates = Verdict(
                False,
                "NotIssued",
                "certificates are issued once the cluster is unpaused and its Secrets exist",
            )
        else:
            outcome = reconcile_pki(
                existing_pki,
                requests=leaf_requests(cluster, context, pods=spec.replicas),
                policy=rotation_policy(cluster),
                now=now,
                pods=pods,
                reports={
                    pod: PodTrust(report.ca_bundle_fingerprint, report.certificate_serial)
                    for pod, report in observed.members.items()
                },
                ca_common_name=f"hive {names.namespace}/{names.cluster} CA",
            )
            certificates = Verdict(
                outcome.ready, "CertificatesInUse" if outcome.ready else outcome.phase.value, outcome.message
            )
            next_check = outcome.next_rotation
            pki = outcome.pki
            pki_changes = [Event("Normal", change.reason, change.message) for change in outcome.changes]
            if write:
                certificate_times = CertificateStatus(
                    ca_not_after=_timestamp(outcome.ca_not_after),
                    leaf_not_after=_timestamp(outcome.leaf_not_after) if outcome.leaf_not_after else None,
                    next_rotation=_timestamp(outcome.next_rotation),
                )
    if write:
        audit_keys, _ = ensure_audit_keys(read_audit_keys(cluster, secrets), pods)
        membership = membership_from_config_map(
            cluster, observed.objects.get(("ConfigMap", names.config_map))
        ) or Membership.new_cluster(spec.replicas)
        desired = desired_objects(
            cluster,
            context=context,
            membership=membership,
            pki=pki,
            audit_keys=audit_keys,
            pod_ordinals=pod_ordinals,
        )
        for kind, field in OPTIONAL_KINDS.items():
            if any(o["kind"] == kind for o in desired) and kind not in observed.available_kinds:
                refusals.append(f"{field}: the {kind} CRD (monitoring.coreos.com) is not installed")
                desired = [o for o in desired if o["kind"] != kind]
        desired, refused_claims = _without_foreign_claims(desired, observed)
        refusals += refused_claims
        members_plan = plan_membership(names, spec.replicas, observed.leader_view, observed.members)
        protected = _still_members(observed, members_plan.keep)
        actions, refused = _object_actions(desired, observed.objects, protected=protected)
        refusals += refused
        if any(isinstance(a, Create | Update) and a.object["kind"] == "Secret" for a in actions):
            actions += pki_changes
        pod_plan = plan_pods(
            [obj for obj in desired if obj["kind"] == "Pod"],
            {name: obj for (kind, name), obj in observed.objects.items() if kind == "Pod"},
            observed.members,
            leader=leader_of(observed.members),
            policy=RolloutPolicy(
                hold=rollout_hold(spec.upgrade, now),
                step=parse_duration(spec.upgrade.timeouts.step),
                now=now,
            ),
        )
        actions += pod_plan.actions
        rollout = pod_plan.message
        stalled = pod_plan.stalled
        actions += members_plan.actions
        membership_message = members_plan.message
        recheck = members_plan.recheck
        actions += _claims_of_removed_members(observed)
        risk_actions, problem = _risk_actions(observed)
        actions += risk_actions
        if problem is not None:
            refusals.append(problem)

    creates_workload = any(
        isinstance(action, Create) and action.object["kind"] == "Pod" for action in actions
    )
    status = compute_status(
        cluster,
        observed.members,
        StatusInputs(
            paused=spec.paused,
            missing_secrets=missing,
            certificates=certificates,
            certificate_times=certificate_times,
            refusals=refusals,
            workload_exists=creates_workload or any(kind == "Pod" for kind, _ in observed.objects),
            rollout=rollout,
            membership=membership_message,
            stalled=stalled,
            unsupported=not_done,
        ),
        now=now,
    )
    actions += _transition_events(cluster, status.conditions)
    if cluster.status is None or status.model_dump() != cluster.status.model_dump():
        actions.append(PatchStatus(status))
    return Plan(actions=tuple(actions), status=status, next_check=next_check, recheck_soon=recheck)
