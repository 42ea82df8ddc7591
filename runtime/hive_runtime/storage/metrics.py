"""Prometheus metrics of the storage layer, registered on a registry the caller owns.

Each node (and each test) passes its own :class:`CollectorRegistry`, so two logs in one process
never collide on metric names.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FSYNC_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)


class StorageMetrics:
    """Counters and gauges for the WAL, hard state and snapshots."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.disk_full = Counter(
            "hive_storage_disk_full",
            "Writes refused because the disk was full (ENOSPC)",
            registry=self.registry,
        )
        self.disk_full_state = Gauge(
            "hive_storage_disk_full_state",
            "1 while the last write attempt hit ENOSPC",
            registry=self.registry,
        )
        self.snapshot_save_seconds = Histogram(
            "hive_snapshot_save_seconds",
            "Writing, fsyncing and renaming one snapshot file (a snapshot this node took is written "
            "on the snapshot worker thread, off the event loop)",
            buckets=(*FSYNC_BUCKETS, 2.5, 10.0),
            registry=self.registry,
        )
        self.fsync_seconds = Histogram(
            "hive_wal_fsync_seconds",
            "fdatasync latency of the WAL",
            buckets=FSYNC_BUCKETS,
            registry=self.registry,
        )
        self.sync_batch_entries = Histogram(
            "hive_wal_sync_batch_entries",
            "Entries made durable by one fdatasync (the group-commit batch)",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
            registry=self.registry,
        )
        self.appended_entries = Counter(
            "hive_wal_appended_entries", "Entries appended to the WAL", registry=self.registry
        )
        self.log_bytes = Gauge("hive_wal_bytes", "Bytes in retained WAL segments", registry=self.registry)
        self.segments = Gauge("hive_wal_segments", "Retained WAL segment files", registry=self.registry)
        self.preallocate_seconds = Histogram(
            "hive_wal_preallocate_seconds",
            "Time to zero-fill and fdatasync one chunk ahead of the WAL write position (on any thread)",
            buckets=FSYNC_BUCKETS,
            registry=self.registry,
        )
        self.preallocate_waits = Counter(
            "hive_wal_preallocate_waits",
            "Appends that blocked on preallocation: waited for the background fill or zero-filled themselves",
            registry=self.registry,
        )
        self.rotation_waits = Counter(
            "hive_wal_rotation_waits",
            "Segment rotations that found no prepared next segment ready: waited for its preparation "
            "or created the segment and zero-filled its first chunk inside append",
            registry=self.registry,
        )
        self.torn_tail_bytes = Counter(
            "hive_wal_torn_tail_bytes",
            "Bytes of interrupted writes truncated during recovery (preallocated zeros are not counted)",
            registry=self.registry,
        )
