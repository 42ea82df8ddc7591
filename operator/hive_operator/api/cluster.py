"""The HiveCluster resource: a replicated trading runtime and how it is run."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel
from hive_operator.api.network import Network
from hive_operator.api.operations import Backup, Bootstrap, Canary, Monitoring, Upgrade
from hive_operator.api.placement import CpuIsolation, Resources, Scheduling, Storage
from hive_operator.api.risk import Risk
from hive_operator.api.security import SecretMount, Tls
from hive_operator.api.status import HiveClusterStatus
from hive_operator.api.types import ResourceName, Version


class PullPolicy(StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class Image(HiveModel):
    """Where the runtime image comes from; the tag is always spec.version."""

    repository: str = Field(
        default="ghcr.io/hive-dev/hive-runtime",
        pattern=r"^[a-z0-9]+([._/:-][a-z0-9]+)*$",
        description="Image repository; the image is <repository>:<version>.",
    )
    pull_policy: PullPolicy = Field(default=PullPolicy.IF_NOT_PRESENT, description="Image pull policy.")
    pull_secrets: list[ResourceName] = Field(
        default_factory=list, max_length=8, description="Image pull Secrets."
    )


class HiveClusterSpec(HiveModel):
    """Desired state of a HiveCluster."""

    replicas: int = Field(
        default=3,
        ge=1,
        le=7,
        description="Voting replicas: 1 (development), 3, 5 or 7. Must be odd.",
    )
    version: Version = Field(description="Runtime version all voters run.")
    image: Image = Field(default_factory=Image, description="Runtime image.")
    resources: Resources = Field(default_factory=Resources, description="CPU and memory of each pod.")
    cpu_isolation: CpuIsolation = Field(default_factory=CpuIsolation, description="Core isolation.")
    scheduling: Scheduling = Field(default_factory=Scheduling, description="Spreading over nodes and zones.")
    network: Network = Field(default_factory=Network, description="Who may reach the client port.")
    storage: Storage = Field(default_factory=Storage, description="Per-replica volume.")
    tls: Tls = Field(default_factory=Tls, description="Mutual TLS certificates.")
    secrets: list[SecretMount] = Field(
        default_factory=list, max_length=32, description="User Secrets mounted as files."
    )
    risk: Risk = Field(
        default_factory=Risk,
        description="Cluster-wide default pre-trade risk limits for every account without limits of its "
        "own, sent to the runtime as a replicated command (status.members[].riskDefaultsHash shows when "
        "they have landed). Sent: maxOrderQuantity, maxOrderNotional, maxGrossPosition, maxNetPosition, "
        "creditLimit; priceCollarBps, maxMessagesPerSecond, restrictedSymbols and circuitBreaker are "
        "per-instrument or per-account settings of the runtime and are not sent yet.",
    )
    backup: Backup | None = Field(default=None, description="Scheduled backups; none when empty.")
    upgrade: Upgrade = Field(default_factory=Upgrade, description="Rolling upgrade policy.")
    canary: Canary | None = Field(default=None, description="A canary learner on a new version.")
    bootstrap: Bootstrap | None = Field(default=None, description="Initial state of a new cluster.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus integration.")
    paused: bool = Field(
        default=False, description="Stop reconciling: the operator changes nothing while paused."
    )

    cel_rules = (
        CelRule(
            rule="self.replicas % 2 == 1",
            message="replicas must be odd (1, 3, 5 or 7) so that a majority is well defined",
            field_path=".replicas",
        ),
        CelRule(
            rule="!has(self.canary) || self.canary.version != self.version",
            message="canary.version must differ from version",
            field_path=".canary.version",
        ),
        CelRule(
            rule="self.secrets.all(s, self.secrets.exists_one(t, t.name == s.name))",
            message="each Secret may be listed once",
            field_path=".secrets",
        ),
        CelRule(
            rule="has(self.bootstrap) == has(oldSelf.bootstrap) && "
            "(!has(self.bootstrap) || self.bootstrap == oldSelf.bootstrap)",
            message="spec.bootstrap cannot change after creation",
            field_path=".bootstrap",
        ),
    )


class ObjectMeta(HiveModel):
    """The parts of metadata the operator reads; the API server owns the rest."""

    model_config = HiveModel.model_config | {"extra": "allow"}

    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class HiveCluster(HiveModel):
    """A replicated Hive trading runtime."""

    api_version: Literal["hive.dev/v1alpha1"] = Field(default="hive.dev/v1alpha1", alias="apiVersion")
    kind: Literal["HiveCluster"] = "HiveCluster"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: HiveClusterSpec
    status: HiveClusterStatus | None = None
