"""Hard state and snapshot files: atomic replacement, checksums verified on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_runtime.storage import (
    CorruptLogError,
    HardState,
    HardStateFile,
    Snapshot,
    SnapshotCorruptError,
    SnapshotMeta,
    SnapshotStore,
)


def test_hard_state_round_trips_and_defaults_to_zero(tmp_path: Path) -> None:
    store = HardStateFile(tmp_path)
    assert store.load() == HardState()
    store.save(HardState(term=7, vote=2, commit=41))
    store.save(HardState(term=8, vote=None, commit=50))
    assert HardStateFile(tmp_path).load() == HardState(term=8, vote=None, commit=50)
    assert not list(tmp_path.glob("*.tmp"))


def test_damaged_hard_state_is_refused(tmp_path: Path) -> None:
    store = HardStateFile(tmp_path)
    store.save(HardState(term=3, vote=1, commit=1))
    raw = bytearray(store.path.read_bytes())
    raw[-1] ^= 0x10
    store.path.write_bytes(bytes(raw))
    with pytest.raises(CorruptLogError, match="checksum"):
        store.load()


def test_leftover_temp_file_does_not_replace_the_state(tmp_path: Path) -> None:
    store = HardStateFile(tmp_path)
    store.save(HardState(term=2, vote=3, commit=9))
    (tmp_path / "hardstate.tmp").write_bytes(b"half-written")  # a crash before the rename
    assert HardStateFile(tmp_path).load() == HardState(term=2, vote=3, commit=9)


def test_snapshot_round_trip_and_retention(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, keep=2)
    for index in (10, 20, 30):
        store.save(
            Snapshot(SnapshotMeta(index=index, term=2, membership={"voters": ["a", "b"]}), b"s" * index)
        )
    assert [index for index, _, _ in store.list()] == [20, 30]
    latest = store.latest()
    assert latest is not None
    assert latest.meta == SnapshotMeta(index=30, term=2, membership={"voters": ["a", "b"]})
    assert latest.data == b"s" * 30


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_damaged_snapshot_fails_verification(tmp_path: Path, damage: str) -> None:
    store = SnapshotStore(tmp_path)
    path = store.save(Snapshot(SnapshotMeta(index=5, term=1), b"state-bytes" * 100))
    raw = bytearray(path.read_bytes())
    if damage == "flip":
        raw[-10] ^= 0x01
    elif damage == "truncate":
        del raw[-3:]
    else:
        raw += b"x"
    path.write_bytes(bytes(raw))
    with pytest.raises(SnapshotCorruptError):
        store.latest()


def test_crashed_snapshot_write_is_cleaned_up(tmp_path: Path) -> None:
    (tmp_path / "snap-00000000000000000009-00000000000000000001.snap.tmp").write_bytes(b"partial")
    store = SnapshotStore(tmp_path)
    assert store.latest() is None
    assert not list(tmp_path.iterdir())
