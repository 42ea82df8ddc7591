"""The HiveBackup resource: one backup of a cluster, taken on demand or by schedule."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from hive_operator.api.base import HiveModel
from hive_operator.api.cluster import ObjectMeta
from hive_operator.api.operations import BackupDestination
from hive_operator.api.types import ResourceName


class HiveBackupSpec(HiveModel):
    """Which cluster to back up, and optionally where."""

    cluster: ResourceName = Field(description="Name of the HiveCluster in the same namespace.")
    destination: BackupDestination | None = Field(
        default=None, description="Override of the cluster's backup destination."
    )


class BackupPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"


class HiveBackupStatus(HiveModel):
    """Outcome of a backup."""

    phase: BackupPhase = Field(default=BackupPhase.PENDING, description="Lifecycle phase.")
    committed_index: int | None = Field(default=None, ge=0, description="Raft index of the snapshot.")
    state_digest: str | None = Field(default=None, description="State digest at committedIndex.")
    size_bytes: int | None = Field(default=None, ge=0, description="Size of the encrypted backup.")
    checksum: str | None = Field(default=None, description="SHA-256 of the stored backup object.")
    verified: bool = Field(default=False, description="Restored and digest-checked after writing.")
    location: str | None = Field(default=None, description="Where the backup is stored.")
    started_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    completed_at: str | None = Field(default=None, json_schema_extra={"format": "date-time"})
    error: str | None = Field(default=None, description="Why the backup failed.")


class HiveBackup(HiveModel):
    """A backup of a HiveCluster."""

    api_version: Literal["hive.dev/v1alpha1"] = Field(default="hive.dev/v1alpha1", alias="apiVersion")
    kind: Literal["HiveBackup"] = "HiveBackup"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: HiveBackupSpec
    status: HiveBackupStatus | None = None
