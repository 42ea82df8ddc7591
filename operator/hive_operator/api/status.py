"""Status of a HiveCluster: what the operator observed, as conditions and a member list."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from hive_operator.api.base import HiveModel


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class ConditionType(StrEnum):
    READY = "Ready"
    PROGRESSING = "Progressing"
    DEGRADED = "Degraded"
    CERTIFICATES_READY = "CertificatesReady"
    SECRETS_READY = "SecretsReady"
    CPU_ISOLATED = "CPUIsolated"
    PAUSED = "Paused"
    BACKUP_HEALTHY = "BackupHealthy"
    CANARY_PROGRESSING = "CanaryProgressing"


class Condition(HiveModel):
    """A condition in the standard metav1.Condition shape."""

    type: str = Field(
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        description="Condition type, e.g. Ready.",
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    observed_generation: int | None = Field(default=None, ge=0, description="Generation it was set for.")
    last_transition_time: str = Field(
        json_schema_extra={"format": "date-time"}, description="When status last changed."
    )
    reason: str = Field(
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="Machine-readable reason in CamelCase.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable detail.")


class Phase(StrEnum):
    PENDING = "Pending"
    BOOTSTRAPPING = "Bootstrapping"
    RESTORING = "Restoring"
    RUNNING = "Running"
    UPGRADING = "Upgrading"
    DEGRADED = "Degraded"
    PAUSED = "Paused"
    FAILED = "Failed"


class MemberRole(StrEnum):
    LEADER = "Leader"
    FOLLOWER = "Follower"
    CANDIDATE = "Candidate"
    LEARNER = "Learner"
    UNKNOWN = "Unknown"


class Member(HiveModel):
    """One replica as its runtime reported it."""

    pod: str = Field(description="Pod name.")
    node_id: int | None = Field(default=None, ge=1, description="Raft node id.")
    role: MemberRole = Field(default=MemberRole.UNKNOWN, description="Raft role.")
    voter: bool | None = Field(default=None, description="Voter (true) or learner (false).")
    version: str | None = Field(default=None, description="Runtime version the pod runs.")
    ready: bool = Field(default=False, description="Caught up with the leader and serving.")
    match_index: int | None = Field(
        default=None, ge=0, description="Highest log index the leader knows this member has."
    )
    cpuset: str | None = Field(default=None, description="Cores the runtime was given, e.g. 4-5.")
    pinned: bool | None = Field(default=None, description="Whether the hot thread is pinned to a core.")
    certificate_serial: str | None = Field(
        default=None, description="Serial of the certificate in use (hex)."
    )
    ca_bundle_fingerprint: str | None = Field(
        default=None,
        description="SHA-256 (hex) of the CA bundle the runtime trusts now; equal to the SHA-256 of "
        "ca.crt in the pod's <pod>-tls Secret once a CA rotation step has landed.",
    )
    secret_hashes: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 of each mounted secret item in use, keyed <secret>/<item path>; equal on "
        "every member once a rotation has landed.",
    )
    risk_defaults_hash: str | None = Field(
        default=None,
        description="SHA-256 of the cluster-wide risk defaults the runtime applied (spec.risk limits); "
        "equal on every member once a change has landed.",
    )


class LastBackup(HiveModel):
    """The most recent completed backup."""

    name: str = Field(description="HiveBackup name.")
    completed_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    committed_index: int | None = Field(default=None, ge=0, description="Raft index the snapshot belongs to.")


class CertificateStatus(HiveModel):
    """Expiry of the cluster's certificates."""

    ca_not_after: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    leaf_not_after: str | None = Field(
        default=None, json_schema_extra={"format": "date-time"}, description="Earliest leaf expiry."
    )
    next_rotation: str | None = Field(default=None, json_schema_extra={"format": "date-time"})


class HiveClusterStatus(HiveModel):
    """Observed state of a HiveCluster."""

    phase: Phase = Field(default=Phase.PENDING, description="Coarse lifecycle phase.")
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Standard conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, ge=0, description="Generation last reconciled.")
    leader: str | None = Field(default=None, description="Pod of the current Raft leader.")
    members: list[Member] = Field(
        default_factory=list,
        description="Replicas and learners.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["pod"]},
    )
    current_version: str | None = Field(default=None, description="Version all voters run.")
    target_version: str | None = Field(default=None, description="Version being rolled out.")
    replicas: int = Field(default=0, ge=0, description="Runtime pods that exist.")
    ready_replicas: int = Field(default=0, ge=0, description="Runtime pods that are ready.")
    selector: str | None = Field(default=None, description="Label selector of the pods (scale subresource).")
    last_backup: LastBackup | None = Field(default=None, description="Most recent completed backup.")
    certificates: CertificateStatus | None = Field(default=None, description="Certificate expiries.")
