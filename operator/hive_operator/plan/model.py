"""The planner's inputs and outputs: what was observed, and the small actions it decides on.

``MemberReport`` is what one runtime pod said about itself through the admin API (``GET /status``
of the admin contract, reduced to what planning needs); the Kubernetes layer fills it from the
typed admin client. A pod that did not answer has no report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hive_operator.api import HiveCluster, HiveClusterStatus
from hive_runtime.contract.models import RiskDefaults


@dataclass(frozen=True)
class MemberReport:
    """One runtime pod's own account of itself."""

    pod: str
    node_id: int
    role: str  # leader, follower, candidate, pre-candidate (the contract's NodeRole values)
    voter: bool
    term: int
    version: str
    ready: bool
    cpuset: str | None = None
    pinned: bool = False
    pinning_reason: str = ""
    match_index: int | None = None
    certificate_serial: str | None = None
    ca_bundle_fingerprint: str | None = None
    secret_hashes: Mapping[str, str] = field(default_factory=dict)
    risk_defaults_hash: str | None = None  # of the cluster-wide risk defaults it applied


@dataclass(frozen=True)
class LeaderView:
    """The Raft configuration as the leader reports it (``GET /status`` of the leader)."""

    leader: str  # its pod
    commit_index: int
    voters: frozenset[int]
    learners: frozenset[int]
    match_index: Mapping[int, int]  # node id -> highest index known replicated to it
    change_pending: bool  # a membership change is proposed and not yet committed

    @property
    def members(self) -> frozenset[int]:
        return self.voters | self.learners


@dataclass(frozen=True)
class Observed:
    """Everything the planner may look at, read by the Kubernetes layer just before planning.

    ``objects`` holds the cluster's children keyed by ``(kind, name)``, as the API returned them
    (Secrets with base64 ``data``). ``referenced_secrets`` gives, for every user Secret the spec
    names, the keys it has (values are never read); a missing Secret is absent.
    ``available_kinds`` lists optional kinds whose CRDs exist (ServiceMonitor, PrometheusRule,
    cert-manager's Certificate). ``issued_secrets`` holds, in ``tls.mode: certManager``, the
    Secrets cert-manager wrote for the cluster's Certificates, by name: not children (never
    changed or deleted), only judged.
    """

    cluster: HiveCluster
    objects: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    referenced_secrets: Mapping[str, frozenset[str]] = field(default_factory=dict)
    members: Mapping[str, MemberReport] = field(default_factory=dict)
    available_kinds: frozenset[str] = frozenset({"ServiceMonitor", "PrometheusRule", "Certificate"})
    issued_secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    risk_config_text: str | None = None  # the key ``spec.risk.configMapRef`` names, when it exists
    leader_view: LeaderView | None = None
    foreign_claims: frozenset[str] = frozenset()  # labelled as ours, but another cluster's data


@dataclass(frozen=True)
class Create:
    object: Mapping[str, Any]


@dataclass(frozen=True)
class Update:
    object: Mapping[str, Any]
    fields: tuple[str, ...]  # paths of the fields that differ (never secret values)


@dataclass(frozen=True)
class Delete:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class SetRiskDefaults:
    """Ask the runtime's leader for the cluster-wide risk defaults (admin API, not Kubernetes)."""

    defaults: RiskDefaults
    expected_hash: str
    leader: str  # the pod to ask


@dataclass(frozen=True)
class ChangeMembership:
    """One Raft membership step, asked of the leader through the admin API: ``add`` a node as a
    learner, ``promote`` a caught-up learner to voter, ``remove`` a member, or ``transfer``
    leadership away from the leader (``node_id`` is then the leader's own id)."""

    step: str  # add, promote, remove, transfer
    node_id: int
    leader: str  # the pod to ask


@dataclass(frozen=True)
class PatchStatus:
    status: HiveClusterStatus


Action = Create | Update | Delete | Event | PatchStatus | SetRiskDefaults | ChangeMembership


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    status: HiveClusterStatus
    next_check: datetime | None = None  # when to reconcile again even if nothing changes
    # A Raft membership step is under way: the runtime moves it on and no Kubernetes watch event
    # will say so, so look again in about a second rather than at the next timer tick.
    recheck_soon: bool = False

    @property
    def writes(self) -> int:
        """API calls the plan makes (every action writes: objects, events and status)."""
        return len(self.actions)
