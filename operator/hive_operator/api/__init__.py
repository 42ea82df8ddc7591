"""The HiveCluster and HiveBackup API (hive.dev/v1alpha1), defined once as pydantic models.

The CRDs in ``crds/``, the chart's copy and ``docs/api.md`` are generated from these models
(``hive crds generate``), so the API server and the operator judge a manifest by the same rules.
"""

from hive_operator.api.backup import HiveBackup, HiveBackupSpec, HiveBackupStatus
from hive_operator.api.base import CelRule, HiveModel, ManifestError, parse_manifest, validation_messages
from hive_operator.api.cluster import HiveCluster, HiveClusterSpec
from hive_operator.api.status import HiveClusterStatus

GROUP = "hive.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "CelRule",
    "HiveBackup",
    "HiveBackupSpec",
    "HiveBackupStatus",
    "HiveCluster",
    "HiveClusterSpec",
    "HiveClusterStatus",
    "HiveModel",
    "ManifestError",
    "parse_manifest",
    "validation_messages",
]
