"""Where and on what the runtime pods run: whole CPUs, exclusive cores, storage."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel
from hive_operator.api.types import Quantity, ResourceName


class Resources(HiveModel):
    """Compute resources of each runtime pod. Requests always equal limits (Guaranteed QoS)."""

    cpu: int = Field(
        default=2,
        ge=1,
        le=256,
        description="Whole CPUs per pod, used as both request and limit so the static CPU manager "
        "can grant exclusive cores.",
    )
    memory: Quantity = Field(default="4Gi", description="Memory per pod, used as both request and limit.")


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(HiveModel):
    """A pod toleration, as in the core Kubernetes API."""

    key: str | None = Field(default=None, description="Taint key the toleration applies to.")
    operator: TolerationOperator = Field(default=TolerationOperator.EQUAL, description="Exists or Equal.")
    value: str | None = Field(default=None, description="Taint value, with operator Equal.")
    effect: TaintEffect | None = Field(default=None, description="Taint effect to match; all when empty.")
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="How long a NoExecute taint is tolerated."
    )

    cel_rules = (
        CelRule(
            rule="self.operator != 'Exists' || !has(self.value)",
            message="a toleration with operator Exists must not set value",
            field_path=".value",
        ),
    )


class CpuIsolation(HiveModel):
    """How the runtime's cores are isolated from other work on the node."""

    exclusive_cores: bool = Field(
        default=True,
        description="Request exclusive cores (Guaranteed QoS, whole CPUs) from the kubelet's static CPU "
        "manager; the runtime pins its hot thread to one of them.",
    )
    runtime_class_name: ResourceName | None = Field(
        default=None,
        description="RuntimeClass for the pods, e.g. one whose handler allows CRI-O annotations.",
    )
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="Node labels the pods must run on (e.g. isolated trading nodes)."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=32, description="Tolerations for tainted, dedicated nodes."
    )
    crio_annotations: bool = Field(
        default=False,
        description="Add the CRI-O annotations that disable CFS quota, CPU load balancing and IRQ load "
        "balancing on the pods' cores (cpu-quota.crio.io, cpu-load-balancing.crio.io, "
        "irq-load-balancing.crio.io). Needs runtimeClassName.",
    )

    cel_rules = (
        CelRule(
            rule="!self.crioAnnotations || has(self.runtimeClassName)",
            message="crioAnnotations requires runtimeClassName (CRI-O honours the annotations only for "
            "a runtime class that allows them)",
            field_path=".crioAnnotations",
        ),
        CelRule(
            rule="!self.crioAnnotations || self.exclusiveCores",
            message="crioAnnotations requires exclusiveCores: true",
            field_path=".crioAnnotations",
        ),
    )


class AntiAffinity(StrEnum):
    REQUIRED = "Required"
    PREFERRED = "Preferred"


class Scheduling(HiveModel):
    """How replicas are spread over nodes and zones, so one failure takes out at most one voter."""

    anti_affinity: AntiAffinity = Field(
        default=AntiAffinity.REQUIRED,
        description="Required: never two replicas on one node (a pod stays Pending rather than share); "
        "Preferred: spread when possible.",
    )
    zone_spread: bool = Field(
        default=True,
        description="Spread replicas evenly over topology.kubernetes.io/zone (best effort).",
    )


class RetentionPolicy(StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class Storage(HiveModel):
    """Persistent volume of each replica (write-ahead log and snapshots)."""

    size: Quantity = Field(default="20Gi", description="Size of each replica's volume.")
    storage_class_name: ResourceName | None = Field(
        default=None, description="StorageClass of the volumes; the cluster default when empty."
    )
    retention_policy: RetentionPolicy = Field(
        default=RetentionPolicy.RETAIN,
        description="What happens to the volumes when the HiveCluster is deleted: Retain keeps them, "
        "Delete removes them.",
    )

    cel_rules = (
        CelRule(
            rule="has(self.storageClassName) == has(oldSelf.storageClassName) && "
            "(!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
            message="spec.storage.storageClassName cannot change after creation",
            field_path=".storageClassName",
        ),
        CelRule(
            rule="quantity(self.size).compareTo(quantity(oldSelf.size)) >= 0",
            message="spec.storage.size cannot shrink (volumes can only grow)",
            field_path=".size",
        ),
    )
