"""NodeStorage: the Raft-facing view of WAL + hard state + snapshots, reconciled at open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hive_runtime.storage import CorruptLogError, HardState, LogEntry, NodeStorage, Snapshot, SnapshotMeta

Factory = Callable[..., list[LogEntry]]


def test_fresh_storage(tmp_path: Path) -> None:
    storage = NodeStorage(tmp_path)
    assert storage.initial_state() == HardState()
    assert (storage.first_index(), storage.last_index(), storage.term(0), storage.snapshot()) == (
        1,
        0,
        0,
        None,
    )


def test_snapshot_compacts_and_survives_restart(tmp_path: Path, make_entries: Factory) -> None:
    storage = NodeStorage(tmp_path, segment_bytes=512)
    for entry in make_entries(1, 100, term=4):
        storage.append([entry])
    storage.sync()
    storage.save_hard_state(HardState(term=4, vote=1, commit=90))
    storage.save_snapshot(Snapshot(SnapshotMeta(index=80, term=4, membership=["n1", "n2", "n3"]), b"state"))
    assert storage.first_index() == 81
    assert storage.wal.first_index() <= 81
    storage.close()
    reopened = NodeStorage(tmp_path, segment_bytes=512)
    assert reopened.initial_state() == HardState(term=4, vote=1, commit=90)
    assert (reopened.first_index(), reopened.last_index(), reopened.term(80)) == (81, 100, 4)
    assert reopened.entries(81, 101) == make_entries(81, 20, term=4)
    snapshot = reopened.snapshot()
    assert snapshot is not None and snapshot.meta.membership == ["n1", "n2", "n3"]


def test_install_snapshot_past_the_log_resets_it(tmp_path: Path, make_entries: Factory) -> None:
    storage = NodeStorage(tmp_path)
    storage.append(make_entries(1, 10, term=1))
    storage.sync()
    storage.install_snapshot(Snapshot(SnapshotMeta(index=500, term=7), b"leader-state"))
    assert (storage.first_index(), storage.last_index(), storage.term(500)) == (501, 500, 7)
    storage.append(make_entries(501, 1, term=7))
    storage.sync()
    storage.close()
    assert NodeStorage(tmp_path).last_index() == 501


def test_crash_between_snapshot_and_log_reset_is_reconciled(tmp_path: Path, make_entries: Factory) -> None:
    storage = NodeStorage(tmp_path)
    storage.append(make_entries(1, 10))
    storage.sync()
    storage.snapshots.save(Snapshot(SnapshotMeta(index=300, term=3), b"s"))  # crash before the reset
    storage.close()
    reopened = NodeStorage(tmp_path)
    assert (reopened.first_index(), reopened.last_index(), reopened.term(300)) == (301, 300, 3)


def test_log_starting_after_the_snapshot_is_refused(tmp_path: Path, make_entries: Factory) -> None:
    storage = NodeStorage(tmp_path, segment_bytes=256)
    for entry in make_entries(1, 60):
        storage.append([entry])
    storage.sync()
    storage.save_snapshot(Snapshot(SnapshotMeta(index=50, term=1), b"s"))
    storage.close()
    for path in sorted((tmp_path / "snapshots").glob("*.snap")):
        path.unlink()
    with pytest.raises(CorruptLogError, match="entries are missing"):
        NodeStorage(tmp_path, segment_bytes=256)


@pytest.mark.parametrize("kept", [1, 3])
def test_snapshots_kept_bounds_the_snapshot_files(tmp_path: Path, make_entries: Factory, kept: int) -> None:
    """``storage.snapshots_kept``: the newest ``kept`` snapshot files stay, older ones go."""
    storage = NodeStorage(tmp_path, snapshots_kept=kept)
    storage.append(make_entries(1, 60, term=1))
    storage.sync()
    for index in (10, 20, 30, 40, 50):
        storage.save_snapshot(Snapshot(SnapshotMeta(index=index, term=1), b"s%d" % index))
    assert [index for index, _, _ in storage.snapshots.list()] == [10, 20, 30, 40, 50][-kept:]
    storage.close()


def test_a_snapshot_written_off_thread_changes_nothing_until_adopted(
    tmp_path: Path, make_entries: Factory
) -> None:
    storage = NodeStorage(tmp_path, segment_bytes=512)
    storage.append(make_entries(1, 100, term=2))
    storage.sync()
    snapshot = Snapshot(SnapshotMeta(index=80, term=2), b"state")
    written = storage.write_snapshot(snapshot)
    assert written.result(timeout=10).exists()
    assert storage.snapshot() is None and storage.wal.first_index() == 1  # not adopted yet
    assert storage.adopt_snapshot(snapshot, keep_entries=0)
    assert storage.snapshot() == snapshot and storage.first_index() == 81
    assert not storage.adopt_snapshot(Snapshot(SnapshotMeta(index=70, term=2), b"older"))
    storage.close()
