"""Reading retained WAL records back from their segment files, so the log keeps no payloads in memory.

Why this module exists: the node keeps its own in-memory copy of the log for replication, so the
WAL's copy of every payload was only ever read at startup (and by tests), yet it doubled the
memory a node needs per retained entry. :class:`~hive_runtime.storage.wal.WriteAheadLog` now keeps
only each entry's term and record offset and reads records back here: one ``pread`` per segment
touched, each record decoded and checked (CRC, index) exactly as recovery checks it. The log's
per-entry record offsets say where a record starts; :func:`record_span` works out where it ends
(records of a segment are contiguous) and :func:`read_entries` groups a range by segment.

Entries appended but not yet synced are in the page cache, so ``pread`` returns them. Reads never
race the log's worker threads: the preallocation fill only writes zeros at or past the segment's
preallocated end, which is never below its logical end (the records), and the segment preparation
writes a different file.
"""

from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Sequence
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.record import ENTRY_PREFIX, RECORD_HEADER, LogEntry, RecordDefect, decode_record
from hive_runtime.storage.wal_segments import SegmentState

RECORD_OVERHEAD = RECORD_HEADER.size + ENTRY_PREFIX.size  # bytes of a record that are not entry data


def read_records(ops: OsFileOps, path: Path, *, start: int, end: int, first_index: int) -> list[LogEntry]:
    """Decode the records in bytes ``[start, end)`` of segment ``path``; the first must have ``first_index``.

    Raises :class:`CorruptLogError` when the bytes are short or do not decode to consecutive
    records (the file changed under the log: damage, or another writer).
    """
    fd = ops.open(path, os.O_RDONLY)
    try:
        raw = ops.pread(fd, end - start, start)
    finally:
        ops.close(fd)
    if len(raw) != end - start:
        raise CorruptLogError(f"{path}: read {len(raw)} bytes at {start}, expected {end - start}")
    entries: list[LogEntry] = []
    offset = 0
    while offset < len(raw):
        decoded = decode_record(raw, offset)
        if isinstance(decoded, RecordDefect):
            raise CorruptLogError(f"{path}: {decoded.problem} record at byte {start + offset} on read")
        expected = first_index + len(entries)
        if decoded.entry.index != expected:
            raise CorruptLogError(
                f"{path}: record at byte {start + offset} has index {decoded.entry.index}, not {expected}"
            )
        entries.append(decoded.entry)
        offset = decoded.end_offset
    return entries


def segment_position(segments: Sequence[SegmentState], index: int) -> int:
    """Position in ``segments`` (ordered by first index) of the segment holding ``index``."""
    firsts = [segment.first_index for segment in segments]
    return max(0, bisect.bisect_right(firsts, index) - 1)


def record_span(
    segments: Sequence[SegmentState], offsets: array[int], *, first_index: int, index: int
) -> tuple[int, int]:
    """Byte range of the record of retained entry ``index`` in its segment.

    ``offsets`` holds the record offset of every retained entry, the first being ``first_index``.
    Records of a segment are contiguous, so a record ends where the next one of its segment
    starts, and the segment's last record ends at the segment's logical end.
    """
    position = segment_position(segments, index)
    segment = segments[position]
    start = offsets[index - first_index]
    next_first = segments[position + 1].first_index if position + 1 < len(segments) else None
    if index == first_index + len(offsets) - 1 or index + 1 == next_first:
        return start, segment.size
    return start, offsets[index + 1 - first_index]


def _prefix_end(
    segments: Sequence[SegmentState],
    offsets: array[int],
    *,
    first_index: int,
    lo: int,
    hi: int,
    max_bytes: int,
) -> int:
    """End of the longest prefix of ``[lo, hi)`` whose entry data fits ``max_bytes`` (at least one entry)."""
    total = 0
    for index in range(lo, hi):
        start, end = record_span(segments, offsets, first_index=first_index, index=index)
        total += end - start - RECORD_OVERHEAD  # the entry's data length
        if total > max_bytes and index > lo:
            return index
    return hi


def read_entries(
    ops: OsFileOps,
    segments: Sequence[SegmentState],
    offsets: array[int],
    *,
    first_index: int,
    lo: int,
    hi: int,
    max_bytes: int | None = None,
) -> list[LogEntry]:
    """Entries ``lo <= index < hi`` (all retained), with one pread per segment they span.

    With ``max_bytes``, only the longest prefix whose entry data fits it (at least one entry).
    """
    if max_bytes is not None:
        hi = _prefix_end(segments, offsets, first_index=first_index, lo=lo, hi=hi, max_bytes=max_bytes)
    result: list[LogEntry] = []
    index = lo
    while index < hi:
        position = segment_position(segments, index)
        segment = segments[position]
        stop = hi
        if position + 1 < len(segments):
            stop = min(hi, segments[position + 1].first_index)
        start = offsets[index - first_index]
        _, end = record_span(segments, offsets, first_index=first_index, index=stop - 1)
        result.extend(read_records(ops, segment.path, start=start, end=end, first_index=index))
        index = stop
    return result
