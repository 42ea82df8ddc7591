"""The write-ahead log: Raft entries in CRC-checked segment files, appended then fdatasync'ed in groups.

``append`` writes records with one ``pwrite`` per batch at the segment's logical end (not durable
yet); ``sync`` makes everything written so far durable with one ``fdatasync`` (plus a directory
fsync after a segment rotation). Callers batch by appending many times and syncing once;
:mod:`hive_runtime.storage.group_commit` does that for concurrent asyncio writers. ``sync`` may
run in a worker thread while the event loop keeps appending; a lock orders it against rotation
and truncation.

Preallocation: an fdatasync after a write that grows the file must also commit the new size (a
journal commit on ext4); one that only overwrites allocated, already-written blocks need not. So
the active segment keeps a region of zeros, written and fdatasync'ed ahead of time, past its
logical end (``allocated``), and appends ``pwrite`` over it. Zeros are written, not
``posix_fallocate``'d: unwritten extents would still need a metadata commit on first write.
When an append leaves less than half a chunk (``preallocate_bytes``) of zeros, it hands the
zero-fill + fdatasync of the next chunk to a worker thread
(:mod:`hive_runtime.storage.preallocation`) and returns; ``allocated`` moves only once that chunk
is durable. ``append`` blocks only when a batch would end past ``allocated``: it then waits for
the fill in flight (never writing past ``allocated`` while one runs), and zero-fills synchronously
as before if none was in flight or it did not reach far enough (the first batch of a segment, a
batch bigger than the margin). ENOSPC in a background fill cuts the file back to ``allocated``
and pauses background fills; the append that needs the space then fills synchronously and raises
:class:`DiskFullError` as before. Any other background error fails the log like a foreground one
and surfaces at the next call. ``truncate_after``, rotation, ``compact_through``, ``reset`` and
``close`` first wait for the fill in flight. The region never goes past ``segment_bytes``;
rotation truncates whatever is left, so a sealed segment ends at its last record; recovery keeps
the zero tail of the last segment (it is not damage, see :mod:`hive_runtime.storage.segment`),
and a crash during a fill leaves only more zeros there. ``preallocate_bytes=0`` turns this off:
the file grows with every batch, as before.

Measured on the development VM (ext4, 3 processes each appending an 8 KiB batch and syncing,
2000 times): ``sync`` p50 ~290 us -> ~145 us and p99 ~500 us -> ~290 us on a quiet disk (on a
busier one, p50 440 -> 320 us, p99 1120 -> 760 us). The extension stall, paid by one ``append``
per chunk, is ~0.45 ms per MiB alone (4 MiB: 1.7 ms p50, 3 ms worst) and ~0.9 ms per MiB with
the 3 processes contending (4 MiB: 3.5 ms p50, 10 ms worst; 1 MiB: 1.3 ms, 5.4 ms). 4 MiB chunks
gave the best ``sync`` p99 and the least stall per MiB written, hence the default. That stall,
once paid by one ``append`` per chunk on the event loop, now runs on the worker thread (a
``sync`` overlapping a fill may still pay for the size commit the fill causes).

Rotation (:mod:`hive_runtime.storage.segment_preparation`): once the active segment holds half of
``segment_bytes``, a worker thread creates the next segment file under a name that is never a
segment name, zero-fills its first preallocation chunk (header area included) and fdatasyncs it.
Rotation seals the active segment as before, then writes the header over the prepared zeros,
fdatasyncs it, renames the file to its segment name and marks the directory dirty, so the next
``sync`` fsyncs the directory before it reports any entry of the new segment durable. A crash
before the rename is durable leaves the prepared name, which recovery deletes (nothing in it was
acknowledged); after it, the segment has a durable header followed by zeros: an ordinary last
segment with a zero tail. If no preparation was started (or it hit ENOSPC), rotation creates the
file itself as before and the append zero-fills the first chunk; if one is still running,
rotation waits for it rather than doing the same work twice (both counted in
``hive_wal_rotation_waits_total``). ``preallocate_bytes=0`` prepares nothing.

Payloads are not kept in memory (the node keeps its own copy for replication; the log's is read
at startup): per retained entry only its term (so ``term`` stays cheap) and its record's offset
in its segment, 16 bytes. ``entry``/``entries`` read the records back with one ``pread`` per
segment and check them like recovery does (:mod:`hive_runtime.storage.segment_reader`).
"""

from __future__ import annotations

import bisect
import errno
import os
import threading
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from hive_runtime.storage.errors import (
    CorruptLogError,
    DiskFullError,
    LogCompactedError,
    LogIndexError,
    StorageFailedError,
)
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.preallocation import BackgroundPreallocator, preallocation_target, zero_fill
from hive_runtime.storage.record import SEGMENT_HEADER, LogEntry, encode_record, encode_segment_header
from hive_runtime.storage.segment import parse_segment_name, scan_segment, segment_name
from hive_runtime.storage.segment_preparation import PreparedSegment, SegmentPreparer, is_prepared_name
from hive_runtime.storage.segment_reader import RECORD_OVERHEAD, read_records

DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_PREALLOCATE_BYTES = 4 * 1024 * 1024


@dataclass
class _Segment:
    first_index: int
    path: Path
    size: int  # logical end: where the next record goes
    allocated: int  # length of the file on disk; the bytes past ``size`` are zeros


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
        self._segments: list[_Segment] = []
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
        if max_bytes is not None:
            total = 0
            for index in range(lo, hi):
                start, end = self._record_span(index)
                total += end - start - RECORD_OVERHEAD  # the entry's data length
                if total > max_bytes and index > lo:
                    hi = index
                    break
        return self._read(lo, hi)

    def _check_index(self, index: int) -> None:
        if index < self._first_index:
            raise LogCompactedError(f"index {index} is compacted (first retained index {self._first_index})")
        if index > self.last_index():
            raise LogIndexError(f"index {index} is past the last index {self.last_index()}")

    def _record_span(self, index: int) -> tuple[int, int]:
        """Byte range of the record of retained entry ``index`` in its segment.

        Records of a segment are contiguous, so a record ends where the next one of its segment
        starts, and the segment's last record ends at the segment's logical end.
        """
        position = self._segment_position(index)
        segment = self._segments[position]
        start = self._offsets[index - self._first_index]
        next_first = self._segments[position + 1].first_index if position + 1 < len(self._segments) else None
        if index == self.last_index() or index + 1 == next_first:
            return start, segment.size
        return start, self._offsets[index + 1 - self._first_index]

    def _read(self, lo: int, hi: int) -> list[LogEntry]:
        """Entries ``lo <= index < hi`` (all retained), with one pread per segment they span."""
        result: list[LogEntry] = []
        index = lo
        while index < hi:
            position = self._segment_position(index)
            segment = self._segments[position]
            stop = hi
            if position + 1 < len(self._segments):
                stop = min(hi, self._segments[position + 1].first_index)
            start = self._offsets[index - self._first_index]
            _, end = self._record_span(stop - 1)
            result.extend(read_records(self._ops, segment.path, start=start, end=end, first_index=index))
            index = stop
        return result

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
        self._write_or_roll_back(segment, b"".join(records), start=start)
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
        self._prepare_ahead(segment)

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
            keep = self._segment_position(cut_index)
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

    def _segment_position(self, index: int) -> int:
        firsts = [segment.first_index for segment in self._segments]
        return max(0, bisect.bisect_right(firsts, index) - 1)

    def _write_or_roll_back(self, segment: _Segment, data: bytes, *, start: int) -> None:
        try:
            self._ops.pwrite_all(self._active_fd, data, offset=start)
        except OSError as error:
            # Cut off whatever part of the batch landed, then give back the preallocated length
            # (as a hole, which reads as zeros), so the bytes past the logical end stay zeros.
            self._background.wait()  # the cut must not race a fill past ``allocated``
            self._roll_back(error, cut=start, restore=segment.allocated, writing="writing a batch")
        self.metrics.disk_full_state.set(0)

    def _preallocate(self, segment: _Segment, *, end: int) -> bool:
        """Zero-fill and fdatasync the active segment up to its next preallocation target, if due.

        The synchronous path, taken when no background fill (or not enough) got there first;
        returns whether it filled. ENOSPC here is reported as :class:`DiskFullError` (the zeros are
        cut off again and the batch is not written), not papered over by growing the file: the
        disk is within one chunk of full and the node should stop taking writes either way.
        """
        target = preallocation_target(
            allocated=segment.allocated, end=end, chunk=self.preallocate_bytes, limit=self.segment_bytes
        )
        if target is None:
            return False
        started = time.perf_counter()
        try:
            zero_fill(self._ops, self._active_fd, start=segment.allocated, end=target)
        except OSError as error:
            self._roll_back(error, cut=segment.allocated, restore=segment.allocated, writing="preallocating")
        try:
            self._ops.fdatasync(self._active_fd)
        except OSError as error:
            self._fail(error)
            raise StorageFailedError(f"fdatasync after preallocating WAL space failed: {error}") from error
        segment.allocated = target
        self._background.disk_full = False  # there was room after all: background work may resume
        self._preparer.disk_full = False
        self.metrics.preallocate_seconds.observe(time.perf_counter() - started)
        return True

    def _preallocate_ahead(self, segment: _Segment) -> None:
        """Start a background fill of the next chunk once less than half a chunk of zeros is left."""
        if self.preallocate_bytes == 0 or self._background.running or self._background.disk_full:
            return
        self._background.wait()  # reap a finished fill (does not block): it may have moved ``allocated``
        if segment.allocated - segment.size >= self.preallocate_bytes // 2 or self._failure is not None:
            return
        target = min(segment.allocated + self.preallocate_bytes, self.segment_bytes)
        if target <= segment.allocated:
            return  # the segment is preallocated up to ``segment_bytes``
        self._background.start(
            self._active_fd, start=segment.allocated, end=target, done=lambda: self._filled(segment, target)
        )

    def _prepare_ahead(self, segment: _Segment) -> None:
        """Start preparing the next segment file once the active one holds half of ``segment_bytes``.

        Half: early enough that the preparation (one chunk of zeros, milliseconds) is done long
        before the segment fills even at full write speed, late enough that a log that is
        truncated or reset soon after opening does not prepare files it never uses. (The file
        holds no index, so an unused one is kept for a later rotation anyway.)
        """
        if (
            self.preallocate_bytes == 0  # nothing to zero-fill: rotation stays as it was
            or self._preparer.pending
            or self._preparer.disk_full
            or self._failure is not None
            or segment.size * 2 < self.segment_bytes
        ):
            return
        length = max(
            SEGMENT_HEADER.size, min(SEGMENT_HEADER.size + self.preallocate_bytes, self.segment_bytes)
        )
        self._preparer.start(length=length)

    def _filled(self, segment: _Segment, target: int) -> None:
        """Run by the preallocation thread once ``segment`` is zero-filled and fdatasync'ed to ``target``."""
        with self._lock:
            segment.allocated = max(segment.allocated, target)

    def _roll_back(self, error: OSError, *, cut: int, restore: int, writing: str) -> NoReturn:
        """After a failed write: truncate the active segment to ``cut``, regrow it to ``restore``, raise."""
        try:
            self._ops.ftruncate(self._active_fd, cut)
            if restore > cut:
                self._ops.ftruncate(self._active_fd, restore)
        except OSError as truncate_error:
            self._fail(truncate_error)
            raise StorageFailedError(f"could not roll back a failed write: {truncate_error}") from error
        if error.errno == errno.ENOSPC:
            self.metrics.disk_full.inc()
            self.metrics.disk_full_state.set(1)
            raise DiskFullError(f"disk full {writing} in {self.directory}: nothing written") from error
        self._fail(error)
        raise StorageFailedError(f"{writing} in the WAL failed: {error}") from error

    def _create_segment(self, first_index: int) -> None:
        path = self.directory / segment_name(first_index)
        fd = self._ops.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            self._ops.pwrite_all(fd, encode_segment_header(first_index), offset=0)
        except OSError:
            self._ops.close(fd)
            self._ops.unlink(path)
            raise
        self._active_fd = fd
        size = SEGMENT_HEADER.size
        self._segments.append(_Segment(first_index=first_index, path=path, size=size, allocated=size))
        self._dir_dirty = True

    def _install_prepared(self, first_index: int, prepared: PreparedSegment) -> None:
        """Turn the prepared file into the active segment starting at ``first_index``.

        The header goes over the prepared zeros and is fdatasync'ed *before* the rename, so a
        segment name on disk always comes with a durable header (a crash before the rename leaves
        only the prepared name, which recovery deletes). The rename itself becomes durable with
        the directory fsync of the next :meth:`sync` (``_dir_dirty``), which returns before any
        entry of the new segment is reported durable; if the crash comes first, the file keeps
        its prepared name and only unacknowledged entries go with it.
        """
        path = self.directory / segment_name(first_index)
        try:
            self._ops.pwrite_all(prepared.fd, encode_segment_header(first_index), offset=0)
        except OSError:
            self._preparer.discard(prepared)
            self._preparer.disk_full = True  # the retry creates the segment itself and finds out
            raise
        try:
            self._ops.fdatasync(prepared.fd)
            self._ops.rename(self._preparer.path, path)
        except OSError as error:
            self._preparer.discard(prepared)
            self._fail(error)
            raise StorageFailedError(f"installing the prepared WAL segment {path} failed: {error}") from error
        self._active_fd = prepared.fd
        self._segments.append(
            _Segment(first_index=first_index, path=path, size=SEGMENT_HEADER.size, allocated=prepared.length)
        )
        self._dir_dirty = True

    def _seal(self, segment: _Segment) -> None:
        """Make the active segment durable and cut its preallocated zeros off (it will never grow again)."""
        if segment.allocated > segment.size:
            self._ops.ftruncate(self._active_fd, segment.size)
            segment.allocated = segment.size
        self._ops.fdatasync(self._active_fd)  # covers the records and the new length

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
            try:
                self._seal(self._segments[-1])
            except OSError as error:
                self._preparer.discard(prepared)
                self._fail(error)
                raise StorageFailedError(
                    f"sealing the WAL segment before rotation failed: {error}"
                ) from error
            try:
                if prepared is not None:
                    self._install_prepared(next_index, prepared)
                else:
                    self._create_segment(next_index)
            except OSError as error:
                self._active_fd = old_fd
                if error.errno == errno.ENOSPC:
                    self.metrics.disk_full.inc()
                    self.metrics.disk_full_state.set(1)
                    raise DiskFullError(f"disk full creating a WAL segment in {self.directory}") from error
                self._fail(error)
                raise StorageFailedError(f"creating a WAL segment failed: {error}") from error
            self._ops.close(old_fd)
            self.metrics.segments.set(len(self._segments))

    def _recover(self) -> RecoveryReport:
        self._ops.makedirs(self.directory)
        for name in self._ops.listdir(self.directory):
            if is_prepared_name(name):
                # A next segment being prepared, or prepared and never renamed in: no entry of
                # the log was ever acknowledged from it.
                self._ops.unlink(self.directory / name)
                self._dir_dirty = True
        names = sorted(
            name for name in self._ops.listdir(self.directory) if parse_segment_name(name) is not None
        )
        torn_total = 0
        expected: int | None = None
        for position, name in enumerate(names):
            path = self.directory / name
            is_last = position == len(names) - 1
            raw = self._ops.read_bytes(path)
            if is_last and len(raw) < SEGMENT_HEADER.size:
                # Creating this segment crashed before its header was durable: drop the file (it
                # holds no entries) and recreate it below from the index in its name.
                self._ops.unlink(path)
                self._dir_dirty = True
                torn_total += len(raw)
                if position == 0:
                    self._first_index = parse_segment_name(name) or 1
                break
            scan = scan_segment(raw, path=path, expected_first_index=expected, is_last=is_last)
            if parse_segment_name(name) != scan.first_index:
                raise CorruptLogError(f"{path}: file name does not match header index {scan.first_index}")
            if position == 0:
                self._first_index = scan.first_index
            self._terms.extend(entry.term for entry in scan.entries)  # the payloads are not kept
            self._offsets.extend(scan.offsets)
            expected = scan.first_index + len(scan.entries)
            allocated = len(raw)
            if scan.torn_bytes or (scan.zero_tail_bytes and not self.preallocate_bytes):
                self._truncate_file(path, scan.valid_end)
                allocated = scan.valid_end  # a torn batch takes the zeros with it; appends re-extend
            self._segments.append(
                _Segment(first_index=scan.first_index, path=path, size=scan.valid_end, allocated=allocated)
            )
            torn_total += scan.torn_bytes
        if self._segments:
            self._active_fd = self._ops.open(self._segments[-1].path, os.O_WRONLY)
        else:
            self._create_segment(self._first_index)
            self._ops.fdatasync(self._active_fd)
        if self._dir_dirty:
            self._ops.fsync_dir(self.directory)
            self._dir_dirty = False
        self._synced_index = self.last_index()
        self.metrics.torn_tail_bytes.inc(torn_total)
        self.metrics.segments.set(len(self._segments))
        self.metrics.log_bytes.set(sum(segment.size for segment in self._segments))
        return RecoveryReport(
            segments=len(self._segments),
            first_index=self._first_index,
            last_index=self.last_index(),
            torn_bytes_truncated=torn_total,
        )

    def _truncate_file(self, path: Path, size: int) -> None:
        fd = self._ops.open(path, os.O_WRONLY)
        try:
            self._ops.ftruncate(fd, size)
            self._ops.fdatasync(fd)
        finally:
            self._ops.close(fd)
