"""The admin contract's data: every request and response body of the admin API, typed once.

The runtime validates requests and builds responses with these models; the operator's client
parses responses with the same models; the OpenAPI document (``docs/admin-openapi.json``) is
generated from them. Field names are camelCase on the wire (Kubernetes style) and snake_case in
Python. Every model forbids unknown fields and validates strictly: ``{"target": true}`` is not
a node id, ``"3"`` is not an integer. Every response carries ``contractVersion``; a client that
meets a version it does not speak refuses the answer instead of guessing.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

CONTRACT_VERSION: Literal[1] = 1
"""Bumped on any incompatible change of a body below; additions of optional fields keep it."""

MAX_NODE_ID = 100_000  # the runtime configuration's bound on node_id
NodeId = Annotated[int, Field(ge=1, le=MAX_NODE_ID, description="a member's Raft id")]
Index = Annotated[int, Field(ge=0, description="a Raft log index")]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, lower-case hex")]


class ContractModel(BaseModel):
    """Strict, closed, camelCase on the wire."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class Versioned(ContractModel):
    contract_version: Literal[1] = Field(default=CONTRACT_VERSION, description="admin contract version")


# -- GET /status --------------------------------------------------------------------------------
class NodeRole(enum.StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class MemberRole(enum.StrEnum):
    VOTER = "voter"
    LEARNER = "learner"


class Member(ContractModel):
    id: NodeId
    name: str
    role: MemberRole
    match_index: Index | None = Field(
        description="on the leader: the highest index known replicated to the member; null elsewhere"
    )
    last_activity: datetime | None = Field(
        description="when this node last received a Raft message from the member (null: never, or self)"
    )


class PendingMembershipChange(ContractModel):
    """A membership change appended to the log but not yet committed."""

    index: Index
    voters: list[NodeId]
    learners: list[NodeId]


class TransferOutcome(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"  # the target became leader
    FAILED = "failed"  # another node became leader, or leadership was lost with no leader known
    TIMED_OUT = "timedOut"  # an election timeout passed and this node is still leader


class LeadershipTransfer(ContractModel):
    id: int = Field(ge=1, description="per-process transfer number")
    target: NodeId
    started_at: datetime
    outcome: TransferOutcome
    finished_at: datetime | None
    new_leader: NodeId | None = Field(description="the leader seen when the transfer finished")
    detail: str


class SnapshotFormat(ContractModel):
    name: str
    version: int = Field(ge=1)


class CpuPlacement(ContractModel):
    cpuset: str | None = Field(description="usable CPUs in kernel list format, e.g. '2-3'")
    pinned: bool
    pinned_core: int | None = Field(ge=0)
    reason: str = Field(description="why the hot thread is, or is not, pinned")


class CertificateInfo(ContractModel):
    serial: str = Field(pattern=r"^[0-9a-f]+$")
    not_after: datetime


class DigestRecord(ContractModel):
    index: Index
    digest: Sha256Hex
    reason: Literal["interval", "snapshot"]


class StatusResponse(Versioned):
    build_version: str = Field(description="version of the installed runtime package")
    cluster_version: str | None = Field(
        description="lowest version every member runs, as replicated in the log (null until known)"
    )
    entry_types: list[str] = Field(description="log entry types this build can apply")
    snapshot_format: SnapshotFormat
    node_id: NodeId
    name: str
    role: NodeRole
    term: int = Field(ge=0)
    leader: NodeId | None
    leader_name: str | None
    commit_index: Index
    applied_index: Index
    snapshot_index: Index
    last_log_index: Index
    members: list[Member]
    pending_membership_change: PendingMembershipChange | None
    leadership_transfer: LeadershipTransfer | None = Field(description="the most recent transfer")
    started_at: datetime
    cpu: CpuPlacement
    certificate: CertificateInfo
    ca_bundle_fingerprint: Sha256Hex = Field(description="SHA-256 of the trusted CA bundle file")
    secrets: dict[str, Sha256Hex] = Field(
        description="SHA-256 of each mounted secret item, keyed '<secret>/<item path>'"
    )
    secrets_hash: Sha256Hex | None = Field(description="one hash over every mounted secret item")
    ready: bool
    digest_interval: int = Field(ge=1, description="digests are recorded at every multiple of this index")
    latest_digest: DigestRecord | None
    risk_defaults_hash: Sha256Hex | None = Field(
        default=None,
        description="SHA-256 of the cluster-wide risk defaults this node has applied (null: never set)",
    )


# -- GET /digest --------------------------------------------------------------------------------
class DigestQuery(ContractModel):
    """Query string of ``GET /digest``: at most one of ``index`` and ``atLeast``; neither means
    the most recent recorded digest."""

    model_config = ConfigDict(strict=False)  # query values arrive as text
    index: Index | None = Field(default=None, description="exactly this index (not with atLeast)")
    at_least: Index | None = Field(
        default=None, description="the first recorded at or after (not with index)"
    )


class DigestResponse(Versioned, DigestRecord):
    pass


# -- POST /leadership/transfer -----------------------------------------------------------------
class TransferRequest(ContractModel):
    target: NodeId | None = Field(default=None, description="default: the most caught-up voter")
    wait_seconds: float = Field(
        default=0.0, ge=0, le=60, description="wait this long for the outcome (0: answer at once, 202)"
    )


class TransferResponse(Versioned):
    transfer: LeadershipTransfer


# -- membership ---------------------------------------------------------------------------------
class AddLearnerRequest(ContractModel):
    id: NodeId


class EmptyRequest(ContractModel):
    """No body, or ``{}``."""


class MembershipResponse(Versioned):
    members: list[Member]


# -- POST /backups ------------------------------------------------------------------------------
class BackupRequest(ContractModel):
    directory: str = Field(pattern=r"^/", min_length=1, max_length=4096, description="absolute path")


class BackupResponse(Versioned):
    index: Index
    digest: Sha256Hex
    size: int = Field(ge=0)
    checksum: Sha256Hex
    location: str
    verified: bool


# -- PUT /risk/defaults -------------------------------------------------------------------------
Limit = Annotated[int, Field(ge=0, le=(1 << 63) - 1, description="0 = no limit")]


class RiskDefaults(ContractModel):
    """Cluster-wide default limits for every account without limits of its own (0 = no limit)."""

    max_order_quantity: Limit = 0
    max_order_notional: Limit = 0
    max_gross_position: Limit = 0
    max_net_position: Limit = 0
    credit_limit: Limit = Field(default=0, ge=0, description="largest open notional per account")


class RiskDefaultsResponse(Versioned):
    defaults: RiskDefaults
    index: Index = Field(description="this node's applied index when it answered (defaults in effect)")
    hash: Sha256Hex = Field(description="what /status shows as riskDefaultsHash once applied")


# -- errors -------------------------------------------------------------------------------------
class ErrorResponse(Versioned):
    error: str = Field(description="machine-readable reason, e.g. 'invalid', 'notLeader', 'notFound'")
    message: str
    field: str | None = Field(default=None, description="the offending field (dotted camelCase path)")
    leader: NodeId | None = Field(default=None, description="with notLeader: the leader, when known")
