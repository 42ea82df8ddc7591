"""What lazyfs promises, checked through a real mount: unsynced bytes are visible, then gone.

lazyfs (``testbed/lazyfs``) backs the real-process power-loss test; these tests pin its model
(fsync/fdatasync on any handle makes a file's data durable, ftruncate is volatile too, a power cut
keeps a seeded prefix of each file's last unsynced write, a clean unmount flushes) so that a
passing power-loss test means what it says.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hive_testbed.lazyfs import LazyFs, unavailable_reason

_MOUNTED: list[LazyFs] = []


@pytest.fixture(autouse=True)
def _lazyfs_available() -> Iterator[None]:
    reason = unavailable_reason()
    if reason is not None:  # a safety test that skips sees nothing: no FUSE or no binary fails
        pytest.fail(reason, pytrace=False)
    yield
    while _MOUNTED:  # a failed assertion must not leave a mount behind
        fs = _MOUNTED.pop()
        if fs.mounted:
            fs.unmount()


def _fs(tmp_path: Path, *, seed: int = 1, torn: bool = False) -> LazyFs:
    fs = LazyFs(backing=tmp_path / "backing", mountpoint=tmp_path / "mnt", seed=seed, torn=torn)
    _MOUNTED.append(fs)
    return fs


def test_unsynced_writes_are_visible_then_lost_and_synced_ones_stay(tmp_path: Path) -> None:
    fs = _fs(tmp_path)
    fs.mount()
    path = fs.mountpoint / "f"
    fd = os.open(path, os.O_CREAT | os.O_RDWR)
    os.write(fd, b"durable")
    os.fdatasync(fd)
    os.pwrite(fd, b"-volatile", 7)
    os.close(fd)
    assert path.read_bytes() == b"durable-volatile"  # read-your-writes through the mount
    assert (fs.backing / "f").read_bytes() == b"durable"  # the disk has only what was synced
    other = os.open(fs.mountpoint / "g", os.O_CREAT | os.O_WRONLY)
    os.write(other, b"never synced")
    os.close(other)
    report = fs.power_cut()
    assert (report.event, report.files, report.torn_bytes) == ("power-cut", 2, 0)
    fs.mount()
    try:
        assert path.read_bytes() == b"durable"
        assert (fs.mountpoint / "g").read_bytes() == b""  # the entry stays: directories not modelled
    finally:
        fs.unmount()


def test_a_sync_on_another_handle_and_truncation(tmp_path: Path) -> None:
    fs = _fs(tmp_path)
    fs.mount()
    path = fs.mountpoint / "f"
    writer = os.open(path, os.O_CREAT | os.O_WRONLY)
    os.write(writer, b"x" * 10_000)
    syncer = os.open(path, os.O_RDONLY)
    os.fsync(syncer)  # fsync on any descriptor of the file makes its data durable
    os.ftruncate(writer, 100)
    os.pwrite(writer, b"z", 200)
    assert path.read_bytes() == b"x" * 100 + bytes(100) + b"z"
    os.close(writer)
    os.close(syncer)
    fs.power_cut()
    fs.mount()
    try:
        assert path.read_bytes() == b"x" * 10_000  # the unsynced truncation is undone too
    finally:
        fs.unmount()


def _torn_outcome(tmp_path: Path, *, seed: int) -> bytes:
    fs = _fs(tmp_path, seed=seed, torn=True)
    fs.mount()
    fd = os.open(fs.mountpoint / "f", os.O_CREAT | os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"A" * 100)
    os.fsync(fd)
    os.write(fd, b"B" * 100)
    os.write(fd, b"C" * 1000)
    os.close(fd)
    report = fs.power_cut()
    data = (fs.backing / "f").read_bytes()
    # The synced part, then a hole where the dropped earlier write was, then a prefix of the last.
    kept = report.torn_bytes
    assert 0 <= kept <= 1000
    assert data == (b"A" * 100 + bytes(100) + b"C" * kept if kept else b"A" * 100)
    return data


def test_a_power_cut_keeps_a_seeded_prefix_of_the_last_write(tmp_path: Path) -> None:
    data = _torn_outcome(tmp_path / "one", seed=5)
    assert _torn_outcome(tmp_path / "two", seed=5) == data  # the same seed tears the same way
    lengths = {len(_torn_outcome(tmp_path / f"s{seed}", seed=seed)) for seed in range(6)}
    assert len(lengths) > 1  # and other seeds tear elsewhere


def test_a_clean_unmount_flushes(tmp_path: Path) -> None:
    fs = _fs(tmp_path)
    fs.mount()
    (fs.mountpoint / "f").write_bytes(b"kept by an orderly shutdown")
    report = fs.unmount()
    assert report.event == "flushed"
    assert (fs.backing / "f").read_bytes() == b"kept by an orderly shutdown"
