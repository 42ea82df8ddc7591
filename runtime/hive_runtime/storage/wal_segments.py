"""The WAL's segment files: what the log tracks of each, and the steps that open, seal and rotate them.

Why this module exists: :class:`~hive_runtime.storage.wal.WriteAheadLog` decides *when* to rotate
(the active segment holds ``segment_bytes``) and keeps the lock, the failure state and the
bookkeeping; the file steps of a rotation (seal the old segment, create a new one or install the
prepared one) live here, as functions that take the file operations and the segment they act on
and return the new segment, so they can be read, and checked for crash safety, on their own.
Recovery (:mod:`hive_runtime.storage.wal_recovery`) and ``reset`` create segments the same way.

Rotation (:mod:`hive_runtime.storage.segment_preparation`): once the active segment holds half of
``segment_bytes``, a worker thread creates the next segment file under a name that is never a
segment name, zero-fills its first preallocation chunk (header area included) and fdatasyncs it.
Rotation seals the active segment, then writes the header over the prepared zeros, fdatasyncs it,
renames the file to its segment name and marks the directory dirty, so the next ``sync`` fsyncs
the directory before it reports any entry of the new segment durable. A crash before the rename
is durable leaves the prepared name, which recovery deletes (nothing in it was acknowledged);
after it, the segment has a durable header followed by zeros: an ordinary last segment with a
zero tail. If no preparation was started (or it hit ENOSPC), rotation creates the file itself and
the append zero-fills the first chunk; if one is still running, rotation waits for it rather than
doing the same work twice (both counted in ``hive_wal_rotation_waits_total``).
``preallocate_bytes=0`` prepares nothing.

All file operations go through the log's :class:`~hive_runtime.storage.fileops.OsFileOps`, so
tests can inject faults into every step.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hive_runtime.storage.errors import DiskFullError, StorageFailedError
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.record import SEGMENT_HEADER, encode_segment_header
from hive_runtime.storage.segment import segment_name
from hive_runtime.storage.segment_preparation import PreparedSegment, SegmentPreparer


@dataclass
class SegmentState:
    """What the log tracks of one of its segment files."""

    first_index: int
    path: Path
    size: int  # logical end: where the next record goes
    allocated: int  # length of the file on disk; the bytes past ``size`` are zeros


def create_segment(ops: OsFileOps, directory: Path, first_index: int) -> tuple[int, SegmentState]:
    """Create the segment file starting at ``first_index`` with its header; return its fd and state.

    Not durable: the caller fdatasyncs the file and fsyncs ``directory`` (now or at the next
    ``sync``). On a failed header write the file is removed again and the error raised.
    """
    path = directory / segment_name(first_index)
    fd = ops.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        ops.pwrite_all(fd, encode_segment_header(first_index), offset=0)
    except OSError:
        ops.close(fd)
        ops.unlink(path)
        raise
    size = SEGMENT_HEADER.size
    return fd, SegmentState(first_index=first_index, path=path, size=size, allocated=size)


def install_prepared(
    ops: OsFileOps,
    preparer: SegmentPreparer,
    directory: Path,
    first_index: int,
    prepared: PreparedSegment,
    *,
    on_failure: Callable[[BaseException], None],
) -> tuple[int, SegmentState]:
    """Turn the prepared file into the segment starting at ``first_index``; return its fd and state.

    The header goes over the prepared zeros and is fdatasync'ed *before* the rename, so a
    segment name on disk always comes with a durable header (a crash before the rename leaves
    only the prepared name, which recovery deletes). The rename itself becomes durable with
    the directory fsync of the log's next ``sync`` (the caller marks the directory dirty), which
    returns before any entry of the new segment is reported durable; if the crash comes first,
    the file keeps its prepared name and only unacknowledged entries go with it.

    A failed header write discards the file and raises the ``OSError`` (the retry creates the
    segment itself and finds out); a failed fdatasync or rename fails the log (``on_failure``)
    and raises :class:`StorageFailedError`.
    """
    path = directory / segment_name(first_index)
    try:
        ops.pwrite_all(prepared.fd, encode_segment_header(first_index), offset=0)
    except OSError:
        preparer.discard(prepared)
        preparer.disk_full = True  # the retry creates the segment itself and finds out
        raise
    try:
        ops.fdatasync(prepared.fd)
        ops.rename(preparer.path, path)
    except OSError as error:
        preparer.discard(prepared)
        on_failure(error)
        raise StorageFailedError(f"installing the prepared WAL segment {path} failed: {error}") from error
    return prepared.fd, SegmentState(
        first_index=first_index, path=path, size=SEGMENT_HEADER.size, allocated=prepared.length
    )


def prepare_ahead(
    preparer: SegmentPreparer, active: SegmentState, *, preallocate_bytes: int, segment_bytes: int
) -> None:
    """Start preparing the next segment file once the active one holds half of ``segment_bytes``.

    Half: early enough that the preparation (one chunk of zeros, milliseconds) is done long
    before the segment fills even at full write speed, late enough that a log that is
    truncated or reset soon after opening does not prepare files it never uses. (The file
    holds no index, so an unused one is kept for a later rotation anyway.) Not called by a
    failed log.
    """
    if (
        preallocate_bytes == 0  # nothing to zero-fill: rotation stays as it was
        or preparer.pending
        or preparer.disk_full
        or active.size * 2 < segment_bytes
    ):
        return
    length = max(SEGMENT_HEADER.size, min(SEGMENT_HEADER.size + preallocate_bytes, segment_bytes))
    preparer.start(length=length)


def seal(ops: OsFileOps, fd: int, segment: SegmentState) -> None:
    """Make the active segment durable and cut its preallocated zeros off (it will never grow again)."""
    if segment.allocated > segment.size:
        ops.ftruncate(fd, segment.size)
        segment.allocated = segment.size
    ops.fdatasync(fd)  # covers the records and the new length


def rotate(
    ops: OsFileOps,
    metrics: StorageMetrics,
    preparer: SegmentPreparer,
    directory: Path,
    *,
    active_fd: int,
    active: SegmentState,
    next_index: int,
    prepared: PreparedSegment | None,
    on_failure: Callable[[BaseException], None],
) -> tuple[int, SegmentState]:
    """Seal ``active`` (open as ``active_fd``) and open the segment starting at ``next_index``.

    Uses ``prepared`` when given, otherwise creates the file. Returns the new segment's fd and
    state; the caller makes it the active one, marks the directory dirty and closes ``active_fd``.
    A failed seal fails the log; ENOSPC creating the new segment raises :class:`DiskFullError`
    (the old segment stays active), any other error fails the log.
    """
    try:
        seal(ops, active_fd, active)
    except OSError as error:
        preparer.discard(prepared)
        on_failure(error)
        raise StorageFailedError(f"sealing the WAL segment before rotation failed: {error}") from error
    try:
        if prepared is not None:
            return install_prepared(ops, preparer, directory, next_index, prepared, on_failure=on_failure)
        return create_segment(ops, directory, next_index)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            metrics.disk_full.inc()
            metrics.disk_full_state.set(1)
            raise DiskFullError(f"disk full creating a WAL segment in {directory}") from error
        on_failure(error)
        raise StorageFailedError(f"creating a WAL segment failed: {error}") from error
