"""Durable storage of a runtime node: WAL segments with CRC, hard state, snapshots.

See docs/runtime-internals.md for the on-disk formats and the recovery rules.
"""

from hive_runtime.storage.errors import (
    CorruptLogError,
    DiskFullError,
    LogCompactedError,
    LogIndexError,
    SnapshotCorruptError,
    StorageError,
    StorageFailedError,
)
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.hardstate import HardState, HardStateFile
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.node_storage import NodeStorage
from hive_runtime.storage.record import LogEntry
from hive_runtime.storage.snapshots import Snapshot, SnapshotMeta, SnapshotStore
from hive_runtime.storage.wal import RecoveryReport, WriteAheadLog

__all__ = [
    "CorruptLogError",
    "DiskFullError",
    "HardState",
    "HardStateFile",
    "LogCompactedError",
    "LogEntry",
    "LogIndexError",
    "NodeStorage",
    "OsFileOps",
    "RecoveryReport",
    "Snapshot",
    "SnapshotCorruptError",
    "SnapshotMeta",
    "SnapshotStore",
    "StorageError",
    "StorageFailedError",
    "StorageMetrics",
    "WriteAheadLog",
]
