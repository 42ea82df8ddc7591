"""Helpers for storage tests: entry factories and a file-ops object that fails like a full disk."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hive_runtime.storage import LogEntry, OsFileOps


def metric_value(registry: CollectorRegistry, name: str) -> float:
    """The value of sample ``name`` in ``registry``; fails the test if it does not exist."""
    value = registry.get_sample_value(name)
    assert value is not None, f"no sample {name}"
    return value


def make_entries(first: int, count: int, *, term: int = 1, size: int = 16) -> list[LogEntry]:
    return [
        LogEntry(index=i, term=term, data=f"e{i}".encode().ljust(size, b"."))
        for i in range(first, first + count)
    ]


class FullDiskFileOps(OsFileOps):
    """Real file ops, except that writes fail with ENOSPC once ``budget`` bytes have been written.

    Like a real full disk, a write that does not fit writes what fits and the next call fails.
    """

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return self._spend(data, lambda part: super(FullDiskFileOps, self).write(fd, part))

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        return self._spend(data, lambda part: super(FullDiskFileOps, self).pwrite(fd, part, offset))

    def _spend(self, data: bytes | memoryview, write: Callable[[bytes | memoryview], int]) -> int:
        if self.budget is None:
            return write(data)
        if self.budget <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = write(data[: self.budget])
        self.budget -= written
        return written


class FailingSyncFileOps(OsFileOps):
    """Real file ops whose fdatasync fails with EIO when ``fail_sync`` is set."""

    fail_sync = False

    def fdatasync(self, fd: int) -> None:
        if self.fail_sync:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        super().fdatasync(fd)


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


@pytest.fixture(name="make_entries")
def make_entries_fixture() -> Callable[..., list[LogEntry]]:
    return make_entries


@pytest.fixture(name="segment_files")
def segment_files_fixture() -> Callable[[Path], list[Path]]:
    return segment_files


@pytest.fixture(name="full_disk_ops")
def full_disk_ops_fixture() -> type[FullDiskFileOps]:
    return FullDiskFileOps


@pytest.fixture(name="failing_sync_ops")
def failing_sync_ops_fixture() -> type[FailingSyncFileOps]:
    return FailingSyncFileOps
