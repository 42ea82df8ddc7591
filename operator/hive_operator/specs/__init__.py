"""Pure builders: a HiveCluster spec (plus a few explicit parameters) to the Kubernetes objects it
should have. Modelled on CloudNativePG's ``pkg/specs``: no API calls, no clock, no I/O; every
object is labelled and owned by its HiveCluster, and the same inputs give the same objects.
"""

from hive_operator.specs.config import Membership, config_map, membership_from_config_map, runtime_config
from hive_operator.specs.desired import CREATION_ORDER, desired_objects
from hive_operator.specs.meta import (
    CLUSTER_LABEL,
    FIELD_MANAGER,
    PORTS,
    Names,
    OperatorContext,
    labels,
    names_of,
    owner_reference,
    selector_labels,
)
from hive_operator.specs.secrets import (
    OPERATOR_LEAF,
    SecretReference,
    audit_secrets,
    leaf_requests,
    pki_secrets,
    read_audit_keys,
    read_pki,
    referenced_secrets,
)
from hive_operator.specs.workload import POD_LABEL, data_claim, pod, termination_grace_seconds

__all__ = [
    "CLUSTER_LABEL",
    "CREATION_ORDER",
    "FIELD_MANAGER",
    "OPERATOR_LEAF",
    "POD_LABEL",
    "PORTS",
    "Membership",
    "Names",
    "OperatorContext",
    "SecretReference",
    "audit_secrets",
    "config_map",
    "data_claim",
    "desired_objects",
    "labels",
    "leaf_requests",
    "membership_from_config_map",
    "names_of",
    "owner_reference",
    "pki_secrets",
    "pod",
    "read_audit_keys",
    "read_pki",
    "referenced_secrets",
    "runtime_config",
    "selector_labels",
    "termination_grace_seconds",
]
