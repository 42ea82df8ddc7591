"""The next WAL segment is prepared on a worker thread and renamed in at rotation.

Checked here, through the real file system: rotation renames the prepared file in (same inode) and
writes no zeros itself; without a prepared file rotation creates the segment as before, and while
the preparation still runs it waits for it; ENOSPC in the preparation is :class:`DiskFullError` on
the rotation that needs the space and any other error fails the log; a process crash leaves a
prepared file that recovery deletes; close deletes an unused one; and a power loss after *any*
file operation of a run that prepares and rotates several segments recovers every acknowledged
entry, nothing else, and no prepared file (:class:`PowerLossFileOps`).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
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
from hive_runtime.storage.record import SEGMENT_HEADER
from hive_runtime.storage.segment_preparation import PREPARED_NAME

from .conftest import FullDiskFileOps, metric_value

Factory = Callable[..., list[LogEntry]]
Files = Callable[[Path], list[Path]]
SEGMENT = 2048
CHUNK = 512
RECORD = 64  # bytes of one record with ENTRY bytes of data
ENTRY = 40
PREPARE_THREAD = "hive-wal-prepare"


def _on_prepare_thread() -> bool:
    return threading.current_thread().name.startswith(PREPARE_THREAD)


class HeldPreparation(OsFileOps):
    """File ops delegating to ``inner`` that can hold the preparation and count zeros written by callers.

    While ``gate`` is unset, the preparation thread sets ``held`` at its first write and waits.
    ``caller_zeros`` counts zero bytes written on threads that are not the log's workers.
    """

    def __init__(self, inner: OsFileOps | None = None) -> None:
        self.inner = inner if inner is not None else OsFileOps()
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()
        self.caller_zeros = 0

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if _on_prepare_thread():
            self.held.set()
            assert self.gate.wait(10), "the test never released the preparation"
        elif not threading.current_thread().name.startswith("hive-wal-") and bytes(data).count(0) == len(
            data
        ):
            self.caller_zeros += len(data)
        return self.inner.pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        self.inner.fdatasync(fd)


class FailingPreparationSync(OsFileOps):
    """Real file ops whose fdatasync fails with EIO on the preparation thread."""

    def fdatasync(self, fd: int) -> None:
        if _on_prepare_thread():
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        super().fdatasync(fd)


def _open(directory: Path, **kwargs: object) -> WriteAheadLog:
    return WriteAheadLog(directory, segment_bytes=SEGMENT, preallocate_bytes=CHUNK, **kwargs)  # type: ignore[arg-type]


def _entries(first: int, count: int, make_entries: Factory) -> list[LogEntry]:
    return make_entries(first, count, size=ENTRY)


def _append_through(wal: WriteAheadLog, make_entries: Factory, *, size: int) -> None:
    """Append one entry at a time until the active segment holds ``size`` bytes or more."""
    while (wal.last_index() - _active_first(wal) + 1) * RECORD + SEGMENT_HEADER.size < size:
        wal.append(_entries(wal.last_index() + 1, 1, make_entries))


def _active_first(wal: WriteAheadLog) -> int:
    return max(wal.first_index(), wal._segments[-1].first_index)


def _wait_for_preparation(wal: WriteAheadLog) -> None:
    deadline = time.monotonic() + 10
    while not wal._preparer.ready:
        assert time.monotonic() < deadline, "the preparation never finished"
        time.sleep(0.001)


def test_rotation_renames_the_prepared_file_in(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = HeldPreparation()
    registry = CollectorRegistry()
    wal = _open(tmp_path, file_ops=ops, metrics=StorageMetrics(registry))
    prepared = tmp_path / PREPARED_NAME
    _append_through(wal, make_entries, size=SEGMENT // 2 - RECORD)
    assert not prepared.exists()  # not before the segment is half full
    _append_through(wal, make_entries, size=SEGMENT // 2)
    _wait_for_preparation(wal)
    assert prepared.read_bytes() == bytes(SEGMENT_HEADER.size + CHUNK)  # durable zeros, no header yet
    inode = prepared.stat().st_ino
    zeros_before = ops.caller_zeros
    _append_through(wal, make_entries, size=SEGMENT)
    rotated_at = wal.last_index() + 1
    wal.append(_entries(rotated_at, 1, make_entries))  # rotates
    assert not prepared.exists()
    new = segment_files(tmp_path)[-1]
    assert new.name == f"{rotated_at:020d}.wal"
    assert new.stat().st_ino == inode
    assert new.stat().st_size == SEGMENT_HEADER.size + CHUNK  # nothing grew it: the record went over zeros
    assert ops.caller_zeros == zeros_before  # the rotating append wrote no zeros itself
    assert metric_value(registry, "hive_wal_rotation_waits_total") == 0
    wal.sync()
    wal.close()
    reopened = _open(tmp_path)
    assert reopened.entries(1, rotated_at + 1) == _entries(1, rotated_at, make_entries)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_rotation_without_a_prepared_file_creates_the_segment_itself(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = _open(tmp_path)
    _append_through(wal, make_entries, size=SEGMENT)
    wal.sync()
    wal.close()  # deletes the unused prepared file
    assert not (tmp_path / PREPARED_NAME).exists()
    ops = HeldPreparation()
    registry = CollectorRegistry()
    wal = _open(tmp_path, file_ops=ops, metrics=StorageMetrics(registry))  # full, nothing prepared
    rotated_at = wal.last_index() + 1
    wal.append(_entries(rotated_at, 1, make_entries))
    assert metric_value(registry, "hive_wal_rotation_waits_total") == 1
    assert ops.caller_zeros == CHUNK  # the append zero-filled the new segment's first chunk itself
    assert segment_files(tmp_path)[-1].name == f"{rotated_at:020d}.wal"
    wal.sync()
    wal.close()
    reopened = _open(tmp_path)
    assert reopened.entries(1, rotated_at + 1) == _entries(1, rotated_at, make_entries)


def test_rotation_waits_for_a_preparation_in_flight(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = HeldPreparation()
    ops.gate.clear()
    registry = CollectorRegistry()
    wal = _open(tmp_path, file_ops=ops, metrics=StorageMetrics(registry))
    _append_through(wal, make_entries, size=SEGMENT)
    assert ops.held.wait(10)
    inode = (tmp_path / PREPARED_NAME).stat().st_ino
    rotated_at = wal.last_index() + 1
    outcome: list[BaseException | None] = []

    def rotate() -> None:
        try:
            wal.append(_entries(rotated_at, 1, make_entries))
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    rotating = threading.Thread(target=rotate)
    rotating.start()
    rotating.join(0.1)
    assert rotating.is_alive(), "the rotation did not wait for the preparation"
    ops.gate.set()
    rotating.join(10)
    assert outcome == [None]
    assert segment_files(tmp_path)[-1].stat().st_ino == inode
    assert ops.caller_zeros == CHUNK  # only the first segment's first chunk, at the first append
    assert metric_value(registry, "hive_wal_rotation_waits_total") == 1
    wal.sync()
    wal.close()
    assert _open(tmp_path).entries(1, rotated_at + 1) == _entries(1, rotated_at, make_entries)


def test_enospc_while_preparing_is_disk_full_on_the_rotation_that_needs_the_space(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    disk = FullDiskFileOps()
    ops = HeldPreparation(disk)
    ops.gate.clear()
    registry = CollectorRegistry()
    wal = _open(tmp_path, file_ops=ops, metrics=StorageMetrics(registry))
    _append_through(wal, make_entries, size=SEGMENT // 2)
    assert ops.held.wait(10)
    disk.budget = 0  # the held preparation finds the disk full
    ops.gate.set()
    _wait_for_preparation(wal)
    disk.budget = None
    assert not (tmp_path / PREPARED_NAME).exists()  # removed, not left half-written
    _append_through(wal, make_entries, size=SEGMENT)  # the log was not failed
    assert not (tmp_path / PREPARED_NAME).exists()  # and preparation is paused while the disk is full
    wal.sync()
    full_at = wal.last_index()
    disk.budget = 0
    with pytest.raises(DiskFullError):
        wal.append(_entries(full_at + 1, 1, make_entries))  # the rotation must create the file itself
    assert wal.last_index() == full_at
    assert metric_value(registry, "hive_storage_disk_full_state") == 1
    disk.budget = None  # space was freed: the same append goes in
    wal.append(_entries(full_at + 1, 1, make_entries))
    assert segment_files(tmp_path)[-1].name == f"{full_at + 1:020d}.wal"
    _append_through(wal, make_entries, size=SEGMENT // 2)
    _wait_for_preparation(wal)  # preparation resumed once a zero-fill succeeded
    assert (tmp_path / PREPARED_NAME).stat().st_size == SEGMENT_HEADER.size + CHUNK
    wal.sync()
    last = wal.last_index()
    wal.close()
    reopened = _open(tmp_path)
    assert reopened.entries(1, last + 1) == _entries(1, last, make_entries)


def test_other_errors_while_preparing_fail_the_log(tmp_path: Path, make_entries: Factory) -> None:
    wal = _open(tmp_path, file_ops=FailingPreparationSync())
    _append_through(wal, make_entries, size=SEGMENT // 2 - RECORD)  # the next append starts preparing
    wal.sync()
    synced = wal.last_index()
    deadline = time.monotonic() + 10
    with pytest.raises(StorageFailedError, match="must be reopened"):  # polls until it surfaces
        while time.monotonic() < deadline:
            wal.append(_entries(wal.last_index() + 1, 1, make_entries))
            time.sleep(0.001)
    wal.close()
    reopened = _open(tmp_path)
    assert not (tmp_path / PREPARED_NAME).exists()
    assert reopened.entries(1, synced + 1) == _entries(1, synced, make_entries)


@pytest.mark.parametrize("moment", ["preparing", "prepared", "rotated"])
def test_process_crash_leaves_no_prepared_file_after_recovery(
    tmp_path: Path, make_entries: Factory, segment_files: Files, moment: str
) -> None:
    """The process dies (the WAL object is abandoned, the page cache survives) and the log reopens."""
    ops = HeldPreparation()
    ops.gate.clear()
    wal = _open(tmp_path, file_ops=ops)
    _append_through(wal, make_entries, size=SEGMENT // 2)
    wal.sync()
    assert ops.held.wait(10)
    if moment != "preparing":
        ops.gate.set()
        _wait_for_preparation(wal)
    if moment == "rotated":
        _append_through(wal, make_entries, size=SEGMENT)
        wal.append(_entries(wal.last_index() + 1, 1, make_entries))
    written = wal.last_index()
    assert (tmp_path / PREPARED_NAME).exists() == (moment != "rotated")
    reopened = _open(tmp_path)  # `wal` is abandoned without close()
    ops.gate.set()  # the abandoned preparation finishes into its deleted file
    assert not (tmp_path / PREPARED_NAME).exists()
    assert reopened.entries(1, written + 1) == _entries(1, written, make_entries)
    assert reopened.recovery.torn_bytes_truncated == 0
    _append_through(reopened, make_entries, size=SEGMENT)  # prepares and rotates again
    reopened.append(_entries(reopened.last_index() + 1, 3, make_entries))
    reopened.sync()
    last = reopened.last_index()
    reopened.close()
    again = _open(tmp_path)
    assert again.entries(1, last + 1) == _entries(1, last, make_entries)
    assert [path.name for path in sorted(tmp_path.iterdir())] == [
        path.name for path in segment_files(tmp_path)
    ]


def test_close_deletes_an_unused_prepared_file_and_reset_keeps_using_it(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    threads_before = set(threading.enumerate())  # abandoned logs of other tests may keep theirs
    wal = _open(tmp_path)
    _append_through(wal, make_entries, size=SEGMENT // 2)
    _wait_for_preparation(wal)
    inode = (tmp_path / PREPARED_NAME).stat().st_ino
    wal.reset(next_index=1001)  # the prepared file holds no index: still good for the next rotation
    assert (tmp_path / PREPARED_NAME).stat().st_ino == inode
    _append_through(wal, make_entries, size=SEGMENT)
    wal.append(_entries(wal.last_index() + 1, 1, make_entries))
    assert segment_files(tmp_path)[-1].stat().st_ino == inode
    _append_through(wal, make_entries, size=SEGMENT // 2)
    _wait_for_preparation(wal)
    wal.close()
    assert not (tmp_path / PREPARED_NAME).exists()
    assert not [
        thread
        for thread in set(threading.enumerate()) - threads_before
        if thread.name.startswith(PREPARE_THREAD)
    ]


DirOp = tuple[str, str, str | int]  # ("create", name, file id) | ("rename", old, new) | ("unlink", name, "")


class PowerLossFileOps(OsFileOps):
    """Real file ops that also record, after every operation, what a power loss would leave of ``directory``.

    File data: what the file held at its last fdatasync (nothing if it never had one); every write
    after that is lost, the pessimistic end. Names: the directory as of its last fsync plus any
    *prefix* of the creations, renames and deletions since (a journal commits them in order, at a
    time of its own choosing, so a rename can be durable while data written before it is not).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._names: dict[str, int] = {}  # the live directory: name -> file id
        self._fds: dict[int, int] = {}
        self._synced_names: dict[str, int] = {}
        self._pending: list[DirOp] = []
        self._data: dict[int, bytes] = {}
        self._acknowledged = 0
        self._next_id = 0
        self.states: list[tuple[dict[str, int], tuple[DirOp, ...], dict[int, bytes], int]] = []

    def acknowledge(self, index: int) -> None:
        """The log reported ``index`` durable: a power loss from now on must keep it."""
        with self._lock:
            self._acknowledged = index
            self._record()

    def _record(self) -> None:
        self.states.append(
            (dict(self._synced_names), tuple(self._pending), dict(self._data), self._acknowledged)
        )

    def open(self, path: Path, flags: int, mode: int = 0o600) -> int:
        with self._lock:
            fd = super().open(path, flags, mode)
            if path.parent == self.directory:
                if path.name not in self._names:
                    self._next_id += 1
                    self._names[path.name] = self._next_id
                    self._pending.append(("create", path.name, self._next_id))
                    self._record()
                self._fds[fd] = self._names[path.name]
            return fd

    def close(self, fd: int) -> None:
        with self._lock:
            super().close(fd)
            self._fds.pop(fd, None)

    def fdatasync(self, fd: int) -> None:
        with self._lock:
            super().fdatasync(fd)
            if fd in self._fds:
                with open(f"/proc/self/fd/{fd}", "rb") as handle:
                    self._data[self._fds[fd]] = handle.read()
                self._record()

    def rename(self, source: Path, target: Path) -> None:
        with self._lock:
            super().rename(source, target)
            self._names[target.name] = self._names.pop(source.name)
            self._pending.append(("rename", source.name, target.name))
            self._record()

    def unlink(self, path: Path) -> None:
        with self._lock:
            super().unlink(path)
            if path.parent == self.directory:
                self._names.pop(path.name)
                self._pending.append(("unlink", path.name, ""))
                self._record()

    def fsync_dir(self, path: Path) -> None:
        with self._lock:
            super().fsync_dir(path)
            if path == self.directory:
                self._synced_names = dict(self._names)
                self._pending = []
                self._record()

    def crash_images(self) -> dict[tuple[tuple[str, bytes], ...], int]:
        """Every directory a power loss could leave -> the highest index acknowledged while it could."""
        images: dict[tuple[tuple[str, bytes], ...], int] = {}
        for synced, pending, data, acknowledged in self.states:
            for landed in range(len(pending) + 1):
                names = dict(synced)
                for kind, first, second in pending[:landed]:
                    if kind == "create":
                        names[first] = int(second)
                    elif kind == "rename":
                        names[str(second)] = names.pop(first)
                    else:
                        names.pop(first, None)
                image = tuple(sorted((name, data.get(file_id, b"")) for name, file_id in names.items()))
                images[image] = max(images.get(image, 0), acknowledged)
        return images


def test_power_loss_at_any_point_of_preparing_and_rotating_keeps_every_acknowledged_entry(
    tmp_path: Path, make_entries: Factory
) -> None:
    directory = tmp_path / "wal"
    directory.mkdir()
    ops = PowerLossFileOps(directory)
    wal = _open(directory, file_ops=ops)
    written = _entries(1, 5 * SEGMENT // RECORD, make_entries)  # four rotations and a bit
    for start in range(0, len(written), 3):
        wal.append(written[start : start + 3])
        if start % 2:
            ops.acknowledge(wal.sync())
    ops.acknowledge(wal.sync())
    wal.close()
    images = ops.crash_images()
    assert any(PREPARED_NAME in dict(image) and len(image) > 2 for image in images)  # crashes mid-rotation
    for number, (image, acknowledged) in enumerate(images.items()):
        crashed = tmp_path / f"crash-{number}"
        crashed.mkdir()
        for name, content in image:
            (crashed / name).write_bytes(content)
        recovered = _open(crashed)
        assert PREPARED_NAME not in os.listdir(crashed), f"image {number}: a prepared file was left"
        assert recovered.first_index() == 1
        assert recovered.last_index() >= acknowledged, f"image {number}: lost acknowledged entries"
        assert recovered.entries(1, recovered.last_index() + 1) == written[: recovered.last_index()]
        recovered.close()
