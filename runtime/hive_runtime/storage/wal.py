"""The write-ahead log: Raft entries in CRC-checked segment files, appended then fdatasync'ed in groups.

``append`` writes records with one ``pwrite`` per batch at the segment's logical end (not durable
yet); ``sync`` makes everything written so far durable with one ``fdatasync`` (plus a directory
fsync after a segment rotation). Callers batch by appending many times and syncing once (the
node's Raft driver syncs once per Ready). ``sync`` may
run in a worker thread while the event loop keeps appending; a lock orders it against rotation
and truncation.

Preallocation: the active segment keeps a region of zeros, written and fdatasync'ed ahead of
time, past its logical end (``allocated``), and appends ``pwrite`` over it, so that ``sync`` need
not commit a file-size change. A worker thread (:mod:`hive_runtime.storage.preallocation`) fills
the next chunk while appends go on; ``append`` waits for it, or fills synchronously, only when a
batch would end past ``allocated``. The rules, the ENOSPC handling and the measurements are in
:mod:`hive_runtime.storage.segment_writer`, which also rolls back every failed write.

Rotation: once the active segment holds ``segment_bytes``, the next batch seals it and continues
in a new segment, normally one a worker thread prepared ahead of time; the file steps and why they
are crash-safe are in :mod:`hive_runtime.storage.wal_segments`. Recovery at open, which scans
the directory and repairs a torn tail, is :mod:`hive_runtime.storage.wal_recovery`.

Payloads are not kept in memory (the node keeps its own copy for replication; the log's is read
at startup): per retained entry only its term (so ``term`` stays cheap) and its record's offset
in its segment, 16 bytes. ``entry``/``entries`` read the records back with one ``pread`` per
segment and check them like recovery does (:mod:`hive_runtime.storage.segment_reader`).
"""

from __future__ import annotations

import os
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hive_runtime.storage.errors import LogCompactedError, LogIndexError, StorageFailedError
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.preallocation import BackgroundPreallocator
from hive_runtime.storage.record import LogEntry, encode_record
from hive_runtime.storage.segment_preparation import SegmentPreparer
from hive_runtime.storage.segment_reader import read_entries, segment_position
from hive_runtime.storage.segment_writer import SegmentWriter
from hive_runtime.storage.wal_recovery import recover_log
from hive_runtime.storage.wal_segments import SegmentState, create_segment, prepare_ahead, rotate

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class RecoveryReport:
    """What opening the log found on disk.

    ``torn_bytes_truncated`` counts bytes of writes a crash interrupted (half-written records and
    whatever of their batch landed after them), never the preallocated zeros past the last record.
    """

    segments: int
    first_index: int
    last_index: int
    torn_bytes_truncated: int


class WriteAheadLog:
    """Segmented, checksummed, group-committed log of :class:`LogEntry` (indices contiguous from 1)."""

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        preallocate_bytes: int = DEFAULT_PREALLOCATE_BYTES,
        file_ops: OsFileOps | None = None,
        metrics: StorageMetrics | None = None,
    ) -> None:
        """Open (creating if needed) the log in ``directory`` and recover it; see :attr:`recovery`.

        ``preallocate_bytes`` is the chunk by which the zero-filled region ahead of the write
        position grows (0: no preallocation, the segment grows with every write).
        """
        if preallocate_bytes < 0:
            raise ValueError(f"preallocate_bytes must be >= 0, not {preallocate_bytes}")
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.preallocate_bytes = preallocate_bytes
        self._ops = file_ops if file_ops is not None else OsFileOps()
        self.metrics = metrics if metrics is not None else StorageMetrics()
        self._lock = threading.Lock()
        self._segments: list[SegmentState] = []
        self._first_index = 1
        # Per retained entry (position = index - first index): its term and its record's byte offset
        # in its segment. Payloads stay on disk; ``entries`` reads them back.
        self._terms = array("Q")
        self._offsets = array("Q")
        self._active_fd = -1
        self._dir_dirty = False
        self._synced_index = 0
        self._failure: BaseException | None = None
        self._background = BackgroundPreallocator(self._ops, self.metrics, on_failure=self._fail)
        self._preparer = SegmentPreparer(self._ops, self.metrics, self.directory, on_failure=self._fail)
        self._writer = SegmentWriter(
            self._ops,
            self.metrics,
            self.directory,
            self._background,
            preallocate_bytes=preallocate_bytes,
            segment_bytes=segment_bytes,
            on_failure=self._fail,
        )
        self.recovery = self._recover()

    # ----------------------------------------------------------------- reads
    def first_index(self) -> int:
        """Index of the first retained entry (``last_index() + 1`` when the log is empty)."""
        return self._first_index

    def last_index(self) -> int:
        return self._first_index + len(self._terms) - 1

    @property
    def synced_index(self) -> int:
        """Highest index known to be on disk (fdatasync returned after it was written)."""
        return self._synced_index

    def term(self, index: int) -> int:
        self._check_index(index)
        return self._terms[index - self._first_index]

    def entry(self, index: int) -> LogEntry:
        """The entry at ``index``, read back from its segment file (CRC-checked)."""
        self._check_index(index)
        return self._read(index, index + 1)[0]

    def entries(self, lo: int, hi: int, *, max_bytes: int | None = None) -> list[LogEntry]:
        """Entries with ``lo <= index < hi``; with ``max_bytes``, a prefix (at least one entry)."""
        if lo < self._first_index:
            raise LogCompactedError(f"index {lo} is compacted (first retained index {self._first_index})")
        if hi > self.last_index() + 1 or lo > hi:
            raise LogIndexError(f"range [{lo}, {hi}) outside the log (last index {self.last_index()})")
        return self._read(lo, hi, max_bytes=max_bytes)

    def _read(self, lo: int, hi: int, *, max_bytes: int | None = None) -> list[LogEntry]:
        """Read retained entries back from the segments (:mod:`hive_runtime.storage.segment_reader`)."""
        return read_entries(
            self._ops,
            self._segments,
            self._offsets,
            first_index=self._first_index,
            lo=lo,
            hi=hi,
            max_bytes=max_bytes,
        )

    def _check_index(self, index: int) -> None:
        if index < self._first_index:
            raise LogCompactedError(f"index {index} is compacted (first retained index {self._first_index})")
        if index > self.last_index():
            raise LogIndexError(f"index {index} is past the last index {self.last_index()}")

    # ---------------------------------------------------------------- writes
    def append(self, entries: Sequence[LogEntry]) -> None:
        """Write ``entries`` (which must continue the log) with one write; not durable until :meth:`sync`.

        Raises :class:`DiskFullError` on ENOSPC, also when preallocating the space for the batch
        fails, with the file rolled back to its previous length and contents. Blocks only when the
        batch needs space past the preallocated end: then it waits for the background fill in
        flight, or zero-fills synchronously if there is none (or it was not enough).
        """
        self._check_usable()
        if not entries:
            return
        expected = self.last_index() + 1
        for offset, entry in enumerate(entries):
            if entry.index != expected + offset:
                raise LogIndexError(f"append of index {entry.index}, expected {expected + offset}")
        if (
            self._segments[-1].size >= self.segment_bytes
            and self.last_index() >= self._segments[-1].first_index
        ):
            self._rotate(next_index=expected)
        segment = self._segments[-1]
        records = [encode_record(entry) for entry in entries]
        start = segment.size
        offsets = []
        position = start
        for record in records:
            offsets.append(position)
            position += len(record)
        if position > segment.allocated:
            # Never write past ``allocated`` while a background fill may still be writing there.
            waited = self._background.wait()
            self._check_usable()  # the fill may have failed the log
            if self._preallocate(segment, end=position) or waited:
                self.metrics.preallocate_waits.inc()
        self._writer.write(self._active_fd, segment, b"".join(records), start=start)
        segment.size = position
        # Not max(): a read-modify-write could undo the preallocation thread raising ``allocated``
        # meanwhile; past ``allocated`` (the batch grew the file) no fill can be in flight.
        if position > segment.allocated:  # noqa: PLR1730
            segment.allocated = position
        self._terms.extend(entry.term for entry in entries)
        self._offsets.extend(offsets)
        self.metrics.appended_entries.inc(len(entries))
        self.metrics.log_bytes.inc(position - start)
        self._preallocate_ahead(segment)
        if self._failure is None:
            prepare_ahead(
                self._preparer,
                segment,
                preallocate_bytes=self.preallocate_bytes,
                segment_bytes=self.segment_bytes,
            )

    def sync(self) -> int:
        """Make every entry appended so far durable (one fdatasync); return the durable index."""
        self._check_usable()
        with self._lock:
            target = self.last_index()
            dir_dirty, self._dir_dirty = self._dir_dirty, False
            started = time.perf_counter()
            try:
                self._ops.fdatasync(self._active_fd)
                if dir_dirty:
                    self._ops.fsync_dir(self.directory)
            except OSError as error:
                self._fail(error)
                raise StorageFailedError(f"fdatasync of the WAL failed: {error}") from error
            self.metrics.fsync_seconds.observe(time.perf_counter() - started)
            if target > self._synced_index:
                self.metrics.sync_batch_entries.observe(target - self._synced_index)
            self._synced_index = max(self._synced_index, target)
            return self._synced_index

    def truncate_after(self, index: int) -> None:
        """Remove every entry after ``index`` (Raft conflict); durable when this returns."""
        self._check_usable()
        if index >= self.last_index():
            return
        if index < self._first_index - 1:
            raise LogCompactedError(f"cannot truncate to {index}: compacted through {self._first_index - 1}")
        cut_index = index + 1
        self._settle_background()
        self._background.disk_full = False  # the zeros go; let the next fill find out afresh
        self._preparer.disk_full = False
        with self._lock:
            position = cut_index - self._first_index
            keep = segment_position(self._segments, cut_index)
            cut_inside_kept = True
            if cut_index == self._segments[keep].first_index and keep > 0:
                keep -= 1  # the cut is at a segment boundary: drop that whole segment
                cut_inside_kept = False
            segment = self._segments[keep]
            new_size = self._offsets[position] if cut_inside_kept else segment.size
            try:
                if len(self._segments) > keep + 1:
                    self._ops.close(self._active_fd)
                    self._active_fd = -1
                    for dropped in reversed(self._segments[keep + 1 :]):
                        self._ops.unlink(dropped.path)
                        self.metrics.log_bytes.dec(dropped.size)
                    del self._segments[keep + 1 :]
                    self._ops.fsync_dir(self.directory)
                    self._active_fd = self._ops.open(segment.path, os.O_WRONLY)
                self._ops.ftruncate(self._active_fd, new_size)  # drops preallocated zeros too
                self._ops.fdatasync(self._active_fd)
            except OSError as error:
                self._fail(error)
                raise StorageFailedError(f"truncating the WAL failed: {error}") from error
            self.metrics.log_bytes.dec(segment.size - new_size)
            segment.size = new_size
            segment.allocated = new_size  # the next append preallocates again
            del self._terms[position:]
            del self._offsets[position:]
            self._synced_index = min(self._synced_index, index)
            self.metrics.segments.set(len(self._segments))

    def compact_through(self, index: int) -> int:
        """Delete segments whose entries are all ``<= index`` (never the active one); return how many."""
        self._check_usable()
        self._settle_background()
        with self._lock:
            dropped = 0
            while len(self._segments) > 1 and self._segments[1].first_index - 1 <= index:
                segment = self._segments.pop(0)
                next_first = self._segments[0].first_index
                try:
                    self._ops.unlink(segment.path)
                except OSError as error:
                    self._fail(error)
                    raise StorageFailedError(f"deleting {segment.path} failed: {error}") from error
                removed = next_first - self._first_index
                del self._terms[:removed]
                del self._offsets[:removed]
                self._first_index = next_first
                self.metrics.log_bytes.dec(segment.size)
                dropped += 1
            if dropped:
                try:
                    self._ops.fsync_dir(self.directory)
                except OSError as error:
                    self._fail(error)
                    raise StorageFailedError(f"fsync of {self.directory} failed: {error}") from error
            self.metrics.segments.set(len(self._segments))
            return dropped

    def reset(self, *, next_index: int) -> None:
        """Discard the whole log and continue at ``next_index`` (after installing a snapshot).

        Old segments are deleted newest first, so a crash part-way leaves a contiguous prefix
        (or nothing), which the storage facade reconciles with the snapshot on the next start.
        """
        self._check_usable()
        self._settle_background()
        self._background.disk_full = False
        self._preparer.disk_full = False
        with self._lock:
            try:
                self._ops.close(self._active_fd)
                self._active_fd = -1
                for segment in reversed(self._segments):
                    self._ops.unlink(segment.path)
                self._ops.fsync_dir(self.directory)
                self._segments = []
                self._terms = array("Q")
                self._offsets = array("Q")
                self._first_index = next_index
                self._create_segment(next_index)
                self._ops.fdatasync(self._active_fd)
                self._ops.fsync_dir(self.directory)
                self._dir_dirty = False
            except OSError as error:
                self._fail(error)
                raise StorageFailedError(f"resetting the WAL failed: {error}") from error
            self._synced_index = next_index - 1
            self.metrics.log_bytes.set(self._segments[-1].size)
            self.metrics.segments.set(1)

    def close(self) -> None:
        """Wait for background work, stop its threads, delete an unused prepared segment, close the log."""
        self._background.close()
        self._preparer.close()
        if self._active_fd >= 0:
            self._ops.close(self._active_fd)
            self._active_fd = -1

    # -------------------------------------------------------------- internals
    def _check_usable(self) -> None:
        if self._failure is not None:
            raise StorageFailedError(f"the WAL failed earlier and must be reopened: {self._failure}")
        if self._active_fd < 0:
            raise StorageFailedError("the WAL is closed")

    def _fail(self, error: BaseException) -> None:
        self._failure = error  # also called from the preallocation thread: one atomic store

    def _settle_background(self) -> None:
        """Wait for the background fill in flight, if any; raise if it failed the log.

        Called (outside ``self._lock``, which the fill takes to finish) before anything that
        truncates, seals, closes or deletes segment files.
        """
        self._background.wait()
        self._check_usable()

    def _preallocate(self, segment: SegmentState, *, end: int) -> bool:
        """Zero-fill the active segment synchronously if ``end`` is past ``allocated``; whether it did."""
        if not self._writer.preallocate(self._active_fd, segment, end=end):
            return False
        self._background.disk_full = False  # there was room after all: background work may resume
        self._preparer.disk_full = False
        return True

    def _preallocate_ahead(self, segment: SegmentState) -> None:
        """Start a background fill of the next chunk once less than half a chunk of zeros is left."""
        if self.preallocate_bytes == 0 or self._background.running or self._background.disk_full:
            return
        self._background.wait()  # reap a finished fill (does not block): it may have moved ``allocated``
        target = self._writer.fill_ahead_target(segment)
        if target is None or self._failure is not None:
            return
        self._background.start(
            self._active_fd, start=segment.allocated, end=target, done=lambda: self._filled(segment, target)
        )

    def _filled(self, segment: SegmentState, target: int) -> None:
        """Run by the preallocation thread once ``segment`` is zero-filled and fdatasync'ed to ``target``."""
        with self._lock:
            segment.allocated = max(segment.allocated, target)

    def _create_segment(self, first_index: int) -> None:
        self._active_fd, segment = create_segment(self._ops, self.directory, first_index)
        self._segments.append(segment)
        self._dir_dirty = True

    def _rotate(self, *, next_index: int) -> None:
        """Seal the active segment and continue in a new one starting at ``next_index``.

        Uses the prepared segment file when there is one (waiting for its preparation if it is
        still running); otherwise creates the file here and the append zero-fills its first chunk.
        """
        self._settle_background()
        prepared, waited = self._preparer.take()
        if self.preallocate_bytes and (prepared is None or waited):
            self.metrics.rotation_waits.inc()
        if self._failure is not None:
            self._preparer.discard(prepared)
            self._check_usable()
        with self._lock:
            old_fd = self._active_fd
            self._active_fd, segment = rotate(
                self._ops,
                self.metrics,
                self._preparer,
                self.directory,
                active_fd=old_fd,
                active=self._segments[-1],
                next_index=next_index,
                prepared=prepared,
                on_failure=self._fail,
            )
            self._segments.append(segment)
            self._dir_dirty = True
            self._ops.close(old_fd)
            self.metrics.segments.set(len(self._segments))

    def _recover(self) -> RecoveryReport:
        found = recover_log(self._ops, self.directory, preallocate_bytes=self.preallocate_bytes)
        self._active_fd = found.active_fd
        self._first_index = found.first_index
        self._segments = found.segments
        self._terms = found.terms
        self._offsets = found.offsets
        self._synced_index = self.last_index()
        self.metrics.torn_tail_bytes.inc(found.torn_bytes)
        self.metrics.segments.set(len(self._segments))
        self.metrics.log_bytes.set(sum(segment.size for segment in self._segments))
        return RecoveryReport(
            segments=len(self._segments),
            first_index=self._first_index,
            last_index=self.last_index(),
            torn_bytes_truncated=found.torn_bytes,
        )
