"""The power-loss disk keeps exactly what was synced, plus a seeded, possibly torn, prefix of the rest."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hive_sim.deferred import deferred_storage_workers, run_background
from hive_sim.powerloss import PowerCut, PowerLossDisk

from hive_runtime.storage import WriteAheadLog
from hive_runtime.storage.fileops import makedirs_durably
from hive_runtime.storage.record import LogEntry

DIR = Path("/d")


class _NeverKeeps(random.Random):
    """A power cut that keeps none of the unsynced operations."""

    def randint(self, a: int, b: int) -> int:
        return a


def _disk(rng: random.Random | None = None) -> PowerLossDisk:
    disk = PowerLossDisk(rng=rng or _NeverKeeps())
    disk.make_durable_dirs(DIR)
    return disk


def _write(disk: PowerLossDisk, name: str, data: bytes, *, sync: bool, dir_sync: bool) -> None:
    ops = disk.ops()
    fd = ops.open(DIR / name, os.O_WRONLY | os.O_CREAT)
    ops.pwrite_all(fd, data, offset=0)
    if sync:
        ops.fdatasync(fd)
    if dir_sync:
        ops.fsync_dir(DIR)
    ops.close(fd)


def test_synced_bytes_and_entries_survive_a_power_cut_and_the_rest_is_lost() -> None:
    disk = _disk()
    _write(disk, "kept", b"durable", sync=True, dir_sync=True)
    _write(disk, "unsynced-data", b"lost", sync=False, dir_sync=True)
    _write(disk, "unsynced-entry", b"synced data, lost name", sync=True, dir_sync=False)
    disk.power_cut()
    ops = disk.ops()
    assert ops.read_bytes(DIR / "kept") == b"durable"
    assert ops.read_bytes(DIR / "unsynced-data") == b""
    assert "unsynced-entry" not in ops.listdir(DIR)


def test_a_crash_keeps_the_page_cache() -> None:
    disk = _disk()
    _write(disk, "f", b"written, never synced", sync=False, dir_sync=False)
    disk.crash()
    assert disk.ops().read_bytes(DIR / "f") == b"written, never synced"
    disk.power_cut()  # and a power cut after the restart still loses it
    assert "f" not in disk.ops().listdir(DIR)


def test_a_rename_without_a_directory_fsync_reverts_to_the_old_file() -> None:
    disk = _disk()
    _write(disk, "state", b"old", sync=True, dir_sync=True)
    _write(disk, "state.tmp", b"new", sync=True, dir_sync=False)
    disk.ops().rename(DIR / "state.tmp", DIR / "state")
    assert disk.ops().read_bytes(DIR / "state") == b"new"
    disk.power_cut()
    assert disk.ops().read_bytes(DIR / "state") == b"old"


def test_torn_writes_keep_a_prefix_of_the_unsynced_operations_in_order() -> None:
    seen: set[bytes] = set()
    for seed in range(200):
        disk = _disk(random.Random(seed))
        ops = disk.ops()
        fd = ops.open(DIR / "log", os.O_WRONLY | os.O_CREAT)
        ops.fsync_dir(DIR)
        ops.pwrite_all(fd, b"AAAA", offset=0)
        ops.fdatasync(fd)
        ops.pwrite_all(fd, b"BBBB", offset=4)
        ops.pwrite_all(fd, b"CCCC", offset=8)
        disk.power_cut()
        image = disk.ops().read_bytes(DIR / "log")
        assert image.startswith(b"AAAA")
        assert (b"AAAA" + b"BBBB" + b"CCCC").startswith(image), image  # a prefix, never a hole
        seen.add(image)
    # all lost, torn inside either write, whole writes kept (the disk may have written everything)
    assert {b"AAAA", b"AAAAB", b"AAAABBBB", b"AAAABBBBC", b"AAAABBBBCCC", b"AAAABBBBCCCC"} <= seen


def test_a_dead_process_cannot_touch_the_disk_and_an_armed_cut_fires_inside_an_operation() -> None:
    disk = _disk()
    old = disk.ops()
    disk.crash()
    with pytest.raises(PowerCut):
        old.listdir(DIR)
    ops = disk.ops()
    fd = ops.open(DIR / "f", os.O_WRONLY | os.O_CREAT)
    ops.fsync_dir(DIR)
    disk.arm(2)
    ops.pwrite_all(fd, b"first", offset=0)  # operation 1 happens
    with pytest.raises(PowerCut):
        ops.fdatasync(fd)  # operation 2: the power goes out before it takes effect
    assert disk.ops().read_bytes(DIR / "f") == b""


def test_the_real_wal_loses_only_unsynced_entries_at_a_power_cut() -> None:
    """The production WAL, on the model, through its seam: synced entries survive, the rest go."""
    disk = _disk(random.Random(7))
    with deferred_storage_workers():
        wal = WriteAheadLog(DIR / "wal", segment_bytes=2048, file_ops=disk.ops())
        entries = [LogEntry(index=i, term=1, data=bytes([i % 250 + 1]) * 60) for i in range(1, 101)]
        for start in range(0, 80, 10):
            wal.append(entries[start : start + 10])
            run_background(disk, jobs=1)
        assert wal.sync() == 80
        wal.append(entries[80:])  # never synced
        disk.power_cut()
        recovered = WriteAheadLog(DIR / "wal", segment_bytes=2048, file_ops=disk.ops())
        assert 80 <= recovered.last_index() < 100
        assert recovered.entries(1, recovered.last_index() + 1) == entries[: recovered.last_index()]
        assert recovered.recovery.segments > 1  # the log rotated: segment names had to survive too


def test_directories_made_durably_survive_a_power_cut_and_plain_ones_do_not() -> None:
    disk = _disk()
    ops = disk.ops()
    makedirs_durably(ops, DIR / "node" / "raft" / "wal")
    ops.makedirs(DIR / "plain" / "wal")
    disk.power_cut()
    ops = disk.ops()
    assert ops.listdir(DIR / "node" / "raft") == ["wal"]
    assert "plain" not in ops.listdir(DIR)
