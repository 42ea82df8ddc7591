"""Opening a WAL directory at startup: scan every segment, repair a torn tail, reopen the active one.

Why this module exists: recovery runs once, before the log takes any write, and decides from the
files alone what the log holds; it shares no state with appending, syncing or rotating. Kept apart
from :class:`~hive_runtime.storage.wal.WriteAheadLog`, it is one function that takes the file
operations and the directory and returns what it found (:class:`RecoveredLog`), which the log then
adopts. The per-segment rules (what a zero tail, a torn tail and corruption look like) are in
:mod:`hive_runtime.storage.segment`; this module applies them across the directory:

- a prepared next segment (:mod:`hive_runtime.storage.segment_preparation`) is deleted: nothing in
  it was ever acknowledged;
- segments are read in index order and must continue one another;
- a last segment shorter than its header (a segment creation that crashed) is deleted and, if it
  was the only one, recreated from the index in its name;
- a torn tail is truncated away and fdatasync'ed; a zero tail is kept for appends to write over
  (truncated too when preallocation is off);
- the last segment is reopened for appending, or an empty log gets its first segment, and the
  directory is fsync'ed if any file was deleted or created.

All file operations go through the log's :class:`~hive_runtime.storage.fileops.OsFileOps`.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.fileops import OsFileOps, makedirs_durably
from hive_runtime.storage.record import SEGMENT_HEADER
from hive_runtime.storage.segment import parse_segment_name, scan_segment
from hive_runtime.storage.segment_preparation import is_prepared_name
from hive_runtime.storage.wal_segments import SegmentState, create_segment


@dataclass
class RecoveredLog:
    """What :func:`recover_log` found: the log's segments, per-entry terms and record offsets."""

    active_fd: int = -1  # the last segment, open for appending
    first_index: int = 1
    segments: list[SegmentState] = field(default_factory=list)
    terms: array[int] = field(default_factory=lambda: array("Q"))
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # in each entry's segment
    torn_bytes: int = 0  # bytes of interrupted writes truncated away (never the zero tail)


def recover_log(ops: OsFileOps, directory: Path, *, preallocate_bytes: int) -> RecoveredLog:
    """Recover the log in ``directory`` (created if missing); raise :class:`CorruptLogError` on damage.

    ``preallocate_bytes`` is the log's setting: with 0, a zero tail is truncated as well.
    Everything repaired is durable when this returns.
    """
    makedirs_durably(ops, directory)
    found = RecoveredLog()
    dir_dirty = False
    for name in ops.listdir(directory):
        if is_prepared_name(name):
            # A next segment being prepared, or prepared and never renamed in: no entry of
            # the log was ever acknowledged from it.
            ops.unlink(directory / name)
            dir_dirty = True
    names = sorted(name for name in ops.listdir(directory) if parse_segment_name(name) is not None)
    expected: int | None = None
    for position, name in enumerate(names):
        path = directory / name
        is_last = position == len(names) - 1
        raw = ops.read_bytes(path)
        if is_last and len(raw) < SEGMENT_HEADER.size:
            # Creating this segment crashed before its header was durable: drop the file (it
            # holds no entries) and recreate it below from the index in its name.
            ops.unlink(path)
            dir_dirty = True
            found.torn_bytes += len(raw)
            if position == 0:
                found.first_index = parse_segment_name(name) or 1
            break
        scan = scan_segment(raw, path=path, expected_first_index=expected, is_last=is_last)
        if parse_segment_name(name) != scan.first_index:
            raise CorruptLogError(f"{path}: file name does not match header index {scan.first_index}")
        if position == 0:
            found.first_index = scan.first_index
        found.terms.extend(entry.term for entry in scan.entries)  # the payloads are not kept
        found.offsets.extend(scan.offsets)
        expected = scan.first_index + len(scan.entries)
        allocated = len(raw)
        if scan.torn_bytes or (scan.zero_tail_bytes and not preallocate_bytes):
            _truncate_file(ops, path, scan.valid_end)
            allocated = scan.valid_end  # a torn batch takes the zeros with it; appends re-extend
        found.segments.append(
            SegmentState(first_index=scan.first_index, path=path, size=scan.valid_end, allocated=allocated)
        )
        found.torn_bytes += scan.torn_bytes
    if found.segments:
        found.active_fd = ops.open(found.segments[-1].path, os.O_WRONLY)
    else:
        found.active_fd, segment = create_segment(ops, directory, found.first_index)
        found.segments.append(segment)
        dir_dirty = True
        ops.fdatasync(found.active_fd)
    if dir_dirty:
        ops.fsync_dir(directory)
    return found


def _truncate_file(ops: OsFileOps, path: Path, size: int) -> None:
    fd = ops.open(path, os.O_WRONLY)
    try:
        ops.ftruncate(fd, size)
        ops.fdatasync(fd)
    finally:
        ops.close(fd)
