"""Reading retained WAL records back from their segment files, so the log keeps no payloads in memory.

Why this module exists: the node keeps its own in-memory copy of the log for replication, so the
WAL's copy of every payload was only ever read at startup (and by tests), yet it doubled the
memory a node needs per retained entry. :class:`~hive_runtime.storage.wal.WriteAheadLog` now keeps
only each entry's term and record offset and reads records back here: one ``pread`` per segment
touched, each record decoded and checked (CRC, index) exactly as recovery checks it.

Entries appended but not yet synced are in the page cache, so ``pread`` returns them. Reads never
race the log's worker threads: the preallocation fill only writes zeros at or past the segment's
preallocated end, which is never below its logical end (the records), and the segment preparation
writes a different file.
"""

from __future__ import annotations

import os
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.record import ENTRY_PREFIX, RECORD_HEADER, LogEntry, RecordDefect, decode_record

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
