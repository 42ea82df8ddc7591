"""A full disk refuses new writes with DiskFullError and a metric, and never damages what is there."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hive_runtime.storage import (
    DiskFullError,
    LogEntry,
    OsFileOps,
    StorageFailedError,
    StorageMetrics,
    WriteAheadLog,
)

from .conftest import metric_value

Factory = Callable[..., list[LogEntry]]


def test_enospc_rolls_back_and_counts(tmp_path: Path, make_entries: Factory, full_disk_ops: type) -> None:
    ops = full_disk_ops()
    registry = CollectorRegistry()
    wal = WriteAheadLog(tmp_path, file_ops=ops, metrics=StorageMetrics(registry))
    wal.append(make_entries(1, 10))
    wal.sync()
    size_before = next(tmp_path.glob("*.wal")).stat().st_size
    ops.budget = 50  # the next batch only partly fits
    with pytest.raises(DiskFullError):
        wal.append(make_entries(11, 10))
    assert next(tmp_path.glob("*.wal")).stat().st_size == size_before
    assert wal.last_index() == 10
    with pytest.raises(DiskFullError):
        wal.append(make_entries(11, 1))
    assert metric_value(registry, "hive_storage_disk_full_total") == 2
    assert metric_value(registry, "hive_storage_disk_full_state") == 1
    ops.budget = None  # space was freed: writes resume
    wal.append(make_entries(11, 1))
    wal.sync()
    assert metric_value(registry, "hive_storage_disk_full_state") == 0
    wal.close()
    assert WriteAheadLog(tmp_path).entries(1, 12) == make_entries(1, 11)


def test_enospc_while_rotating_keeps_the_old_segment(
    tmp_path: Path, make_entries: Factory, full_disk_ops: type
) -> None:
    ops = full_disk_ops()
    wal = WriteAheadLog(tmp_path, file_ops=ops, segment_bytes=256)
    wal.append(make_entries(1, 20))
    ops.budget = 0
    with pytest.raises(DiskFullError):
        wal.append(make_entries(21, 1))
    assert len(list(tmp_path.glob("*.wal"))) == 1
    ops.budget = None
    wal.append(make_entries(21, 1))
    wal.sync()
    wal.close()
    assert WriteAheadLog(tmp_path).last_index() == 21


def test_failed_fsync_poisons_the_log(tmp_path: Path, make_entries: Factory, failing_sync_ops: type) -> None:
    ops = failing_sync_ops()
    wal = WriteAheadLog(tmp_path, file_ops=ops)
    wal.append(make_entries(1, 3))
    ops.fail_sync = True
    with pytest.raises(StorageFailedError):
        wal.sync()
    ops.fail_sync = False
    with pytest.raises(StorageFailedError, match="must be reopened"):
        wal.append(make_entries(4, 1))


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_real_full_tmpfs(small_tmpfs: Path, make_entries: Factory) -> None:
    """On a real 256 KiB tmpfs: fill it, get DiskFullError, and recover every synced entry."""
    wal = WriteAheadLog(small_tmpfs / "wal", file_ops=OsFileOps(), segment_bytes=64 * 1024)
    index = 1
    with pytest.raises(DiskFullError):
        while True:
            wal.append(make_entries(index, 8, size=1000))
            wal.sync()
            index += 8
    last_durable = wal.last_index()
    assert last_durable == index - 1 > 100
    wal.close()
    reopened = WriteAheadLog(small_tmpfs / "wal", segment_bytes=64 * 1024)
    assert reopened.last_index() == last_durable
    assert reopened.recovery.torn_bytes_truncated == 0
    assert reopened.entries(1, last_durable + 1) == make_entries(1, last_durable, size=1000)
    reopened.close()


def test_enospc_on_hard_state_and_snapshot_keeps_the_old_files(tmp_path: Path, full_disk_ops: type) -> None:
    from hive_runtime.storage import HardState, HardStateFile, Snapshot, SnapshotMeta, SnapshotStore

    ops = full_disk_ops()
    registry = CollectorRegistry()
    metrics = StorageMetrics(registry)
    hard_state = HardStateFile(tmp_path, file_ops=ops, metrics=metrics)
    snapshots = SnapshotStore(tmp_path / "snapshots", file_ops=ops, metrics=metrics)
    hard_state.save(HardState(term=1, vote=1, commit=0))
    snapshots.save(Snapshot(SnapshotMeta(index=5, term=1), b"old state"))
    ops.budget = 10
    with pytest.raises(DiskFullError):
        hard_state.save(HardState(term=2, vote=3, commit=4))
    ops.budget = 10
    with pytest.raises(DiskFullError):
        snapshots.save(Snapshot(SnapshotMeta(index=9, term=2), b"new state" * 10))
    assert HardStateFile(tmp_path).load() == HardState(term=1, vote=1, commit=0)
    latest = SnapshotStore(tmp_path / "snapshots").latest()
    assert latest is not None and latest.data == b"old state"
    assert not list(tmp_path.rglob("*.tmp"))
    assert metric_value(registry, "hive_storage_disk_full_total") == 2
