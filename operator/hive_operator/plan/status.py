"""The status a HiveCluster should show, from what the runtime pods report, not from pod phases.

The status describes the cluster as it will be once the plan's object writes have been made (the
status patch is the plan's last action), so applying a plan and planning again gives no write.
Conditions keep their ``lastTransitionTime`` while their status stays the same, so computing the
status twice from the same observations gives the same status and no write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hive_operator.api import HiveCluster, HiveClusterStatus
from hive_operator.api.status import (
    CertificateStatus,
    Condition,
    ConditionStatus,
    ConditionType,
    Member,
    MemberRole,
    Phase,
)
from hive_operator.plan.model import MemberReport
from hive_operator.specs import names_of, selector_labels

_ROLES = {"leader": MemberRole.LEADER, "follower": MemberRole.FOLLOWER, "candidate": MemberRole.CANDIDATE}


@dataclass(frozen=True)
class Verdict:
    """One condition as decided: status, reason, message."""

    status: bool | None  # None: Unknown
    reason: str
    message: str = ""


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(
    kind: ConditionType,
    verdict: Verdict,
    previous: Sequence[Condition],
    generation: int | None,
    now: datetime,
) -> Condition:
    status = {True: ConditionStatus.TRUE, False: ConditionStatus.FALSE, None: ConditionStatus.UNKNOWN}[
        verdict.status
    ]
    before = next((c for c in previous if c.type == kind.value), None)
    since = before.last_transition_time if before is not None and before.status == status else _timestamp(now)
    return Condition(
        type=kind.value,
        status=status,
        observed_generation=generation,
        last_transition_time=since,
        reason=verdict.reason,
        message=verdict.message,
    )


def cpu_count(cpuset: str) -> int:
    """CPUs in a kernel list such as ``0-3,8``."""
    total = 0
    for part in cpuset.split(","):
        if not part.strip():
            continue
        low, _, high = part.partition("-")
        total += int(high or low) - int(low) + 1
    return total


def cpu_isolation(cluster: HiveCluster, reports: Mapping[str, MemberReport]) -> Verdict:
    if not cluster.spec.cpu_isolation.exclusive_cores:
        return Verdict(False, "NotRequested", "spec.cpuIsolation.exclusiveCores is false")
    if not reports:
        return Verdict(None, "NoReports", "no runtime pod has reported its cpuset yet")
    wanted = cluster.spec.resources.cpu
    problems = []
    for pod, report in sorted(reports.items()):
        cpus = cpu_count(report.cpuset) if report.cpuset else 0
        if report.cpuset is None:
            problems.append(f"pod {pod} did not report a cpuset")
        elif cpus != wanted:
            problems.append(f"pod {pod} got {cpus} shared CPUs; enable the kubelet static CPU manager policy")
        elif not report.pinned:
            problems.append(f"pod {pod} is not pinned: {report.pinning_reason or 'no reason given'}")
    if problems:
        return Verdict(False, "SharedCores", "; ".join(problems))
    return Verdict(True, "ExclusiveCores", f"every pod runs pinned on {wanted} exclusive CPUs")


def _members(cluster: HiveCluster, reports: Mapping[str, MemberReport]) -> list[Member]:
    names = names_of(cluster)
    pods = [names.pod(ordinal) for ordinal in range(cluster.spec.replicas)]
    pods += sorted(set(reports) - set(pods))
    members = []
    for pod in pods:
        report = reports.get(pod)
        if report is None:
            members.append(Member(pod=pod))
            continue
        role = _ROLES.get(report.role, MemberRole.UNKNOWN)
        if not report.voter and role is not MemberRole.LEADER:
            role = MemberRole.LEARNER
        members.append(
            Member(
                pod=pod,
                node_id=report.node_id,
                role=role,
                voter=report.voter,
                version=report.version,
                ready=report.ready,
                match_index=report.match_index,
                cpuset=report.cpuset,
                pinned=report.pinned,
                certificate_serial=report.certificate_serial,
                ca_bundle_fingerprint=report.ca_bundle_fingerprint,
                secret_hashes=dict(report.secret_hashes),
                risk_defaults_hash=report.risk_defaults_hash,
            )
        )
    return members


def leader_of(reports: Mapping[str, MemberReport]) -> str | None:
    """The pod that says it leads in the highest term (a deposed leader may not know yet)."""
    leaders = [report for report in reports.values() if report.role == "leader"]
    return max(leaders, key=lambda report: report.term).pod if leaders else None


@dataclass(frozen=True)
class StatusInputs:
    paused: bool
    missing_secrets: Sequence[str]
    certificates: Verdict
    certificate_times: CertificateStatus | None
    refusals: Sequence[str]
    workload_exists: bool
    rollout: str | None = None  # pods still to replace, when a rolling update is under way
    membership: str | None = None  # the Raft membership change under way (scaling)
    stalled: str | None = None  # a replaced pod not serving within the step timeout
    unsupported: Sequence[str] = ()  # spec fields accepted but not acted on by this version


def compute_status(
    cluster: HiveCluster, reports: Mapping[str, MemberReport], inputs: StatusInputs, *, now: datetime
) -> HiveClusterStatus:
    previous = cluster.status.conditions if cluster.status is not None else []
    generation = cluster.metadata.generation
    replicas = cluster.spec.replicas
    leader = leader_of(reports)
    ready_count = sum(1 for report in reports.values() if report.ready)
    voters_ready = sum(1 for report in reports.values() if report.ready and report.voter)

    if leader is None:
        ready = Verdict(False, "NoLeader", "no runtime pod reports a Raft leader")
    elif voters_ready < replicas:
        ready = Verdict(False, "ReplicasNotReady", f"{voters_ready} of {replicas} voters are ready")
    else:
        ready = Verdict(True, "ClusterReady", f"leader {leader}; {voters_ready} of {replicas} voters ready")

    if inputs.refusals:
        degraded = Verdict(True, "ChangeRefused", "; ".join(inputs.refusals))
    elif inputs.stalled is not None:
        degraded = Verdict(True, "RolloutStalled", inputs.stalled)
    elif leader is not None and voters_ready < replicas:
        missing = sorted(
            names_of(cluster).pod(k)
            for k in range(replicas)
            if not (names_of(cluster).pod(k) in reports and reports[names_of(cluster).pod(k)].ready)
        )
        degraded = Verdict(True, "MembersNotReady", f"not ready: {', '.join(missing)}")
    elif inputs.unsupported:
        degraded = Verdict(True, "Unsupported", "; ".join(inputs.unsupported))
    else:
        degraded = Verdict(False, "AsExpected")

    if inputs.paused:
        progressing = Verdict(False, "Paused", "spec.paused is true: nothing is changed")
    elif inputs.missing_secrets:
        progressing = Verdict(False, "SecretsMissing", "waiting for referenced Secrets")
    elif inputs.rollout is not None:
        progressing = Verdict(True, "RollingUpdate", inputs.rollout)
    elif inputs.membership is not None:
        progressing = Verdict(True, "ChangingMembership", inputs.membership)
    elif not ready.status:
        progressing = Verdict(True, "WaitingForMembers", ready.message)
    elif not inputs.certificates.status:
        progressing = Verdict(True, "RotatingCertificates", inputs.certificates.message)
    else:
        progressing = Verdict(False, "Reconciled", "every object is up to date")

    secrets = (
        Verdict(False, "SecretMissing", "; ".join(inputs.missing_secrets))
        if inputs.missing_secrets
        else Verdict(True, "SecretsFound", "every referenced Secret and key exists")
    )
    paused = (
        Verdict(True, "PausedBySpec", "spec.paused is true: the operator changes nothing")
        if inputs.paused
        else Verdict(False, "Reconciling")
    )
    verdicts = {
        ConditionType.READY: ready,
        ConditionType.PROGRESSING: progressing,
        ConditionType.DEGRADED: degraded,
        ConditionType.CERTIFICATES_READY: inputs.certificates,
        ConditionType.SECRETS_READY: secrets,
        ConditionType.CPU_ISOLATED: cpu_isolation(cluster, reports),
        ConditionType.PAUSED: paused,
    }
    conditions = [_condition(kind, verdict, previous, generation, now) for kind, verdict in verdicts.items()]

    if inputs.paused:
        phase = Phase.PAUSED
    elif not inputs.workload_exists:
        phase = Phase.PENDING
    elif ready.status:
        phase = Phase.RUNNING
    elif leader is not None:
        phase = Phase.DEGRADED
    else:
        phase = Phase.BOOTSTRAPPING
    versions = {report.version for report in reports.values() if report.voter}
    selector = ",".join(f"{key}={value}" for key, value in selector_labels(cluster).items())
    last_backup = cluster.status.last_backup if cluster.status is not None else None
    return HiveClusterStatus(
        phase=phase,
        conditions=conditions,
        observed_generation=generation,
        leader=leader,
        members=_members(cluster, reports),
        current_version=versions.pop() if len(versions) == 1 else None,
        target_version=cluster.spec.version,
        replicas=len(reports),
        ready_replicas=ready_count,
        selector=selector,
        last_backup=last_backup,
        certificates=inputs.certificate_times,
    )
