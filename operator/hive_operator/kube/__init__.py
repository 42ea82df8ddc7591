"""The only code that calls the Kubernetes API: an async REST client, reading a HiveCluster's
observed state, and performing the planner's actions (server-side apply, one field manager)."""

from hive_operator.kube.act import REPORTING_CONTROLLER, Writes, perform, post_event
from hive_operator.kube.client import ApiError, Conflict, KubeApi, NotFound
from hive_operator.kube.observe import (
    available_kinds,
    read_children,
    read_cluster,
    read_referenced_secret_keys,
)

__all__ = [
    "REPORTING_CONTROLLER",
    "ApiError",
    "Conflict",
    "KubeApi",
    "NotFound",
    "Writes",
    "available_kinds",
    "perform",
    "post_event",
    "read_children",
    "read_cluster",
    "read_referenced_secret_keys",
]
