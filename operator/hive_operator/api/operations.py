"""Day-2 operations of a cluster: backups, restore, upgrades, canaries, monitoring."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel
from hive_operator.api.types import (
    ClockTime,
    CronSchedule,
    Duration,
    HttpUrl,
    ResourceName,
    SecretKey,
    Version,
)


class SecretKeyRef(HiveModel):
    """A key of a Secret in the cluster's namespace, mounted as a file (never an env var)."""

    name: ResourceName = Field(description="Name of the Secret.")
    key: SecretKey = Field(default="key", description="Key in the Secret.")


class SecretRef(HiveModel):
    """A whole Secret in the cluster's namespace."""

    name: ResourceName = Field(description="Name of the Secret.")


class PvcDestination(HiveModel):
    """Backups written to a PersistentVolumeClaim."""

    claim_name: ResourceName = Field(description="Name of the PVC.")
    path: str = Field(default="/", pattern=r"^/[A-Za-z0-9._/-]*$", description="Directory inside the volume.")


class S3Destination(HiveModel):
    """Backups written to an S3-compatible bucket."""

    endpoint: HttpUrl = Field(description="Endpoint URL of the S3-compatible service.")
    bucket: str = Field(
        min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.-]+[a-z0-9]$", description="Bucket name."
    )
    prefix: str = Field(default="", max_length=512, description="Key prefix inside the bucket.")
    region: str | None = Field(default=None, description="Region, where the service needs one.")
    credentials_secret: SecretRef | None = Field(
        default=None,
        description="Secret with keys accessKeyId and secretAccessKey, mounted as files. Required.",
    )

    cel_rules = (
        CelRule(
            rule="has(self.credentialsSecret)",
            message="an S3 destination requires credentialsSecret",
            field_path=".credentialsSecret",
        ),
    )


class BackupDestination(HiveModel):
    """Exactly one of pvc or s3."""

    pvc: PvcDestination | None = Field(default=None, description="Write backups to a PVC.")
    s3: S3Destination | None = Field(default=None, description="Write backups to an S3-compatible bucket.")

    cel_rules = (
        CelRule(
            rule="has(self.pvc) != has(self.s3)",
            message="set exactly one of pvc or s3",
        ),
    )


class BackupRetention(HiveModel):
    """Which backups to keep; a backup is deleted when it is beyond count or older than maxAge."""

    count: int = Field(default=7, ge=1, le=10_000, description="Number of completed backups to keep.")
    max_age: Duration | None = Field(default=None, description="Delete backups older than this.")


class Backup(HiveModel):
    """Scheduled, encrypted backups (snapshot at a committed index)."""

    schedule: CronSchedule = Field(description="When to take a backup (cron, UTC).")
    destination: BackupDestination = Field(description="Where backups go.")
    retention: BackupRetention = Field(default_factory=BackupRetention, description="Which backups to keep.")
    encryption_key_secret: SecretKeyRef = Field(
        description="Secret key holding the 32-byte ChaCha20-Poly1305 key that encrypts backups at rest."
    )


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


class MaintenanceWindow(HiveModel):
    """A weekly window in which disruptive operations (upgrades) may run."""

    days: list[Weekday] = Field(min_length=1, max_length=7, description="Days the window opens on.")
    start: ClockTime = Field(description="Opening time, UTC, HH:MM.")
    duration: Duration = Field(description="How long the window stays open.")

    cel_rules = (
        CelRule(
            rule="duration(self.duration) <= duration('168h') && duration(self.duration) > duration('0s')",
            message="duration must be positive and at most 168h",
            field_path=".duration",
        ),
    )


class UpgradeTimeouts(HiveModel):
    """Bounds on each step of a leader-aware rolling upgrade."""

    step: Duration = Field(default="10m", description="Longest time one replica may take to come back ready.")
    catch_up: Duration = Field(default="2m", description="Longest time a replica may take to catch up.")
    leader_transfer: Duration = Field(
        default="30s", description="Longest time a leadership transfer may take."
    )


class Upgrade(HiveModel):
    """How version changes are rolled out."""

    paused: bool = Field(default=False, description="Hold any rollout of a new version.")
    maintenance_windows: list[MaintenanceWindow] = Field(
        default_factory=list,
        max_length=32,
        description="Windows in which upgrades may start; any time when empty.",
    )
    timeouts: UpgradeTimeouts = Field(default_factory=UpgradeTimeouts, description="Step timeouts.")


class CanaryStep(HiveModel):
    """Observe the canary for a while before the next step."""

    observe: Duration = Field(description="How long to observe the canary in this step.")


class CanaryAnalysis(HiveModel):
    """Thresholds that fail a canary."""

    max_digest_mismatches: int = Field(
        default=0, ge=0, description="State digest mismatches tolerated at compared indexes."
    )
    max_apply_lag_entries: int = Field(
        default=10_000, ge=0, description="How far the canary may fall behind the commit index."
    )
    max_restarts: int = Field(default=0, ge=0, description="Canary process restarts tolerated.")


class Canary(HiveModel):
    """A non-voting learner on a new version that replays the real log before an upgrade."""

    version: Version = Field(description="Runtime version the canary runs.")
    steps: list[CanaryStep] = Field(
        default_factory=lambda: [CanaryStep(observe="5m")],
        min_length=1,
        max_length=20,
        description="Observation steps; all must pass.",
    )
    analysis: CanaryAnalysis = Field(default_factory=CanaryAnalysis, description="Failure thresholds.")
    auto_promote: bool = Field(
        default=False, description="Start the rolling upgrade to version when the canary passes."
    )


class BackupLocation(HiveModel):
    """A backup addressed directly by destination and object key."""

    destination: BackupDestination = Field(description="Where the backup is stored.")
    key: str = Field(min_length=1, max_length=1024, description="Object key or file path of the backup.")


class FromBackup(HiveModel):
    """Restore a new cluster from a backup: a HiveBackup by name, or a location."""

    backup_name: ResourceName | None = Field(default=None, description="A HiveBackup in this namespace.")
    location: BackupLocation | None = Field(default=None, description="A backup by destination and key.")
    encryption_key_secret: SecretKeyRef = Field(description="Secret key that decrypts the backup.")

    cel_rules = (
        CelRule(
            rule="has(self.backupName) != has(self.location)",
            message="set exactly one of backupName or location",
        ),
    )


class Bootstrap(HiveModel):
    """How a brand-new cluster gets its initial state."""

    from_backup: FromBackup | None = Field(default=None, description="Restore from a backup.")


class Monitoring(HiveModel):
    """Prometheus Operator integration."""

    service_monitor: bool = Field(default=False, description="Create a ServiceMonitor for /metrics.")
    prometheus_rule: bool = Field(default=False, description="Create a PrometheusRule with Hive's alerts.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels for the ServiceMonitor and PrometheusRule."
    )
