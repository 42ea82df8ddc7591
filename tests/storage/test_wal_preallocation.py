"""Preallocation: the active segment keeps durable zeros ahead of its logical end, appends overwrite them.

Checked here: the zeros are never mistaken for damage (and genuine damage still is), sealed
segments end at their last record, truncation/reset/disk-full keep their promises, and
``preallocate_bytes=0`` grows the file with every write as before. The background fill: appends
that find the space ready never zero-fill themselves, an append that outruns the fill waits for it,
ENOSPC or EIO in the fill surface on a later call, and truncation, the last batch of a segment
(then rotation) and close wait for a fill in flight (held there with :class:`WatchedFileOps`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hive_runtime.storage import (
    CorruptLogError,
    DiskFullError,
    LogEntry,
    OsFileOps,
    StorageFailedError,
    StorageMetrics,
    WriteAheadLog,
)
from hive_runtime.storage.record import SEGMENT_HEADER, encode_record
from hive_runtime.storage.segment import SECTOR_BYTES, scan_segment

from .conftest import metric_value

Factory = Callable[..., list[LogEntry]]
Files = Callable[[Path], list[Path]]
CHUNK = 4096
FILL_THREAD = "hive-wal-preallocate"  # the name prefix of the preallocation worker thread


class CountingFileOps(OsFileOps):
    """Real file ops that count the calls whose number preallocation changes."""

    def __init__(self) -> None:
        self.fdatasyncs = 0
        self.ftruncates = 0

    def fdatasync(self, fd: int) -> None:
        self.fdatasyncs += 1
        super().fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        self.ftruncates += 1
        super().ftruncate(fd, size)


class WatchedFileOps(OsFileOps):
    """File ops delegating to ``inner`` that note which thread wrote zeros and can hold a fill.

    While ``gate`` is set to an unset event, a zero ``pwrite`` on the preallocation thread sets
    ``held`` and waits for ``gate`` before writing anything.
    """

    def __init__(self, inner: OsFileOps | None = None) -> None:
        self.inner = inner if inner is not None else OsFileOps()
        self.zero_writes: list[tuple[str, int]] = []  # (thread name, bytes) of every zero pwrite
        self.gate: threading.Event | None = None
        self.held = threading.Event()
        self.fill_threads: set[threading.Thread] = set()

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        if bytes(data).count(0) == len(data):
            name = threading.current_thread().name
            if name.startswith(FILL_THREAD):
                self.fill_threads.add(threading.current_thread())
            if self.gate is not None and name.startswith(FILL_THREAD):
                self.held.set()
                assert self.gate.wait(10), "the test never released the fill"
            written = self.inner.pwrite(fd, data, offset)
            self.zero_writes.append((name, written))
            return written
        return self.inner.pwrite(fd, data, offset)

    def fdatasync(self, fd: int) -> None:
        self.inner.fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        self.inner.ftruncate(fd, size)

    def zeros_written_outside_the_fill_thread(self) -> int:
        return sum(count for name, count in self.zero_writes if not name.startswith(FILL_THREAD))


class Background:
    """Runs ``action`` on a thread of its own and keeps what it raised."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self._action = action
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._action()
        except BaseException as error:
            self.error = error

    def assert_blocked(self) -> None:
        """The action has not returned (it cannot, with a correct log, until the fill is released)."""
        self.thread.join(0.1)
        assert self.thread.is_alive(), f"returned without waiting for the fill (raised {self.error!r})"

    def finish(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def _hold_a_fill(tmp_path: Path, make_entries: Factory, ops: WatchedFileOps, **kwargs: Any) -> WriteAheadLog:
    """A log with 15 entries whose background fill of the next chunk is held before its first write.

    The first append zero-fills the first chunk itself (nothing is allocated yet) and leaves less
    than half a chunk of it: the fill of ``[16 + CHUNK, 16 + 2 * CHUNK)`` starts on the worker.
    """
    ops.gate = threading.Event()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, file_ops=ops, **kwargs)
    wal.append(make_entries(1, 15, size=150))
    assert ops.held.wait(10)
    return wal


def _logical_size(segment: Path) -> int:
    """Where the records of ``segment`` end (what recovery keeps)."""
    return scan_segment(segment.read_bytes(), path=segment, expected_first_index=None, is_last=True).valid_end


def _records_size(entries: list[LogEntry]) -> int:
    return SEGMENT_HEADER.size + sum(len(encode_record(entry)) for entry in entries)


def test_reopen_returns_the_entries_and_counts_no_torn_bytes(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    registry = CollectorRegistry()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, metrics=StorageMetrics(registry))
    entries = make_entries(1, 300, size=40)
    for start in range(0, 300, 7):
        wal.append(entries[start : start + 7])
    wal.sync()
    wal.close()
    (segment,) = segment_files(tmp_path)
    logical = _records_size(entries)
    on_disk = segment.stat().st_size
    assert logical < on_disk < logical + CHUNK + CHUNK // 2  # the next chunk starts at half a chunk left
    assert (on_disk - SEGMENT_HEADER.size) % CHUNK == 0
    extensions = (on_disk - SEGMENT_HEADER.size) // CHUNK
    assert metric_value(registry, "hive_wal_preallocate_seconds_count") == extensions

    registry = CollectorRegistry()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, metrics=StorageMetrics(registry))
    assert reopened.entries(1, 301) == entries
    assert reopened.recovery.torn_bytes_truncated == 0
    assert metric_value(registry, "hive_wal_torn_tail_bytes_total") == 0
    assert segment.stat().st_size == on_disk  # the zeros were kept, not truncated
    reopened.append(make_entries(301, 5, term=2))  # written at the logical end, over the zeros
    reopened.sync()
    reopened.close()
    assert _logical_size(segment) == _records_size(entries + make_entries(301, 5, term=2))
    again = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert [entry.term for entry in again.entries(299, 306)] == [1, 1, 2, 2, 2, 2, 2]
    assert again.recovery.torn_bytes_truncated == 0


def test_active_segment_runs_ahead_and_sealed_segments_end_at_their_last_record(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=2048, preallocate_bytes=512)
    for entry in make_entries(1, 198, size=40):  # the last segment ends part-way into its zeros
        wal.append([entry])
        active = segment_files(tmp_path)[-1]
        size, logical = active.stat().st_size, _logical_size(active)
        assert size >= logical
        assert size <= max(2048, logical)  # never preallocated past segment_bytes
    files = segment_files(tmp_path)
    assert len(files) > 4
    for sealed in files[:-1]:
        raw = sealed.read_bytes()  # a zero tail in a sealed segment would be refused as corruption
        assert scan_segment(raw, path=sealed, expected_first_index=None, is_last=False).valid_end == len(raw)
    assert files[-1].stat().st_size > _logical_size(files[-1])
    wal.close()
    assert WriteAheadLog(tmp_path, segment_bytes=2048).entries(1, 199) == make_entries(1, 198, size=40)


def test_rotation_cuts_the_zeros_off_the_sealed_segment(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    """A segment recovered with zeros past ``segment_bytes`` (the limit was lowered) is cut when sealed."""
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    wal.append(make_entries(1, 30, size=40))
    wal.sync()
    wal.close()
    (first,) = segment_files(tmp_path)
    logical = _logical_size(first)
    assert first.stat().st_size > logical
    wal = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=CHUNK)
    wal.append(make_entries(31, 1))  # the first segment is over 1024 bytes: rotate
    wal.sync()
    sealed, active = segment_files(tmp_path)
    assert sealed.stat().st_size == logical
    assert active.stat().st_size == 1024  # preallocated, capped at segment_bytes
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024)
    assert reopened.entries(1, 32) == make_entries(1, 31, size=40)[:30] + make_entries(31, 1)


def test_half_written_record_over_preallocated_zeros_is_truncated_and_counted(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    wal.append(make_entries(1, 20))
    wal.sync()
    wal.close()
    (segment,) = segment_files(tmp_path)
    logical = _logical_size(segment)
    record = encode_record(make_entries(21, 1)[0])
    with segment.open("r+b") as handle:  # the crash came after 12 bytes of entry 21 reached the disk
        handle.seek(logical)
        handle.write(record[:12])
    registry = CollectorRegistry()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, metrics=StorageMetrics(registry))
    assert reopened.last_index() == 20
    # What the crash left of entry 21, not the preallocated zeros the rest of its record would
    # have covered: up to its last non-zero byte (12 bytes written, the last 3 of them zeros).
    written = len(record[:12].rstrip(b"\0"))
    assert written == 9
    assert reopened.recovery.torn_bytes_truncated == written
    assert metric_value(registry, "hive_wal_torn_tail_bytes_total") == written
    assert segment.stat().st_size == logical  # truncated with the damage...
    reopened.append(make_entries(21, 1, term=2))
    assert segment.stat().st_size > _logical_size(segment)  # ...and preallocated again by the next append
    reopened.sync()
    reopened.close()
    again = WriteAheadLog(tmp_path)
    assert again.term(21) == 2
    assert again.recovery.torn_bytes_truncated == 0


def test_batch_with_a_lost_sector_is_torn_but_a_flipped_bit_is_corruption(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    """Power loss during an unsynced batch over preallocated zeros can lose any of its sectors."""
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK * 4)
    wal.append(make_entries(1, 5, size=300))
    wal.sync()
    durable = _logical_size(segment_files(tmp_path)[0])
    wal.append(make_entries(6, 20, size=300))  # written, never synced
    wal.close()
    (segment,) = segment_files(tmp_path)
    intact = segment.read_bytes()

    lost = (durable // SECTOR_BYTES + 3) * SECTOR_BYTES  # a sector in the middle of the batch
    damaged = bytearray(intact)
    damaged[lost : lost + SECTOR_BYTES] = bytes(SECTOR_BYTES)
    segment.write_bytes(bytes(damaged))
    reopened = WriteAheadLog(tmp_path)
    recovered = reopened.last_index()
    assert 5 <= recovered < 25
    assert reopened.entries(1, recovered + 1) == make_entries(1, 25, size=300)[:recovered]
    assert reopened.recovery.torn_bytes_truncated == _records_size(make_entries(1, 25, size=300)) - (
        _records_size(make_entries(1, recovered, size=300))
    )
    reopened.close()

    flipped = bytearray(intact)
    flipped[lost + 100] ^= 0x01  # the same place, but bit rot: no unwritten sector anywhere
    segment.write_bytes(bytes(flipped))
    with pytest.raises(CorruptLogError, match="followed by more data"):
        WriteAheadLog(tmp_path)


@pytest.mark.parametrize("cut", [0, 1, 30, 60, 99])
def test_truncate_after_drops_the_zeros_and_appends_preallocate_again(
    tmp_path: Path, make_entries: Factory, segment_files: Files, cut: int
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=2048, preallocate_bytes=512)
    for entry in make_entries(1, 100, size=40):
        wal.append([entry])
    wal.sync()
    wal.truncate_after(cut)
    active = segment_files(tmp_path)[-1]
    assert active.stat().st_size == _logical_size(active)  # nothing past the new end, not even zeros
    wal.append(make_entries(cut + 1, 1, term=2, size=40))
    assert active.stat().st_size > _logical_size(active)
    wal.append(make_entries(cut + 2, 2, term=2, size=40))
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=2048, preallocate_bytes=512)
    assert [entry.term for entry in reopened.entries(1, cut + 4)] == [1] * cut + [2] * 3
    assert reopened.recovery.torn_bytes_truncated == 0


def test_truncate_at_a_segment_boundary_reactivates_the_sealed_segment(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=512)
    for entry in make_entries(1, 60, size=40):
        wal.append([entry])
    second_first = int(segment_files(tmp_path)[1].name.removesuffix(".wal"))
    wal.truncate_after(second_first - 1)
    wal.append(make_entries(second_first, 1, term=5))  # rotates again: the kept segment is full
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024)
    assert reopened.term(second_first) == 5
    assert reopened.last_index() == second_first


def test_reset_starts_a_fresh_preallocated_segment(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    wal.append(make_entries(1, 10))
    wal.reset(next_index=501)
    (segment,) = segment_files(tmp_path)
    assert segment.stat().st_size == SEGMENT_HEADER.size
    wal.append(make_entries(501, 2, term=9))
    assert segment.stat().st_size == SEGMENT_HEADER.size + CHUNK
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert (reopened.first_index(), reopened.last_index(), reopened.term(502)) == (501, 502, 9)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_enospc_while_preallocating_is_disk_full_and_changes_nothing(
    tmp_path: Path, make_entries: Factory, segment_files: Files, full_disk_ops: type
) -> None:
    ops = full_disk_ops()
    registry = CollectorRegistry()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, file_ops=ops, metrics=StorageMetrics(registry))
    wal.append(make_entries(1, 10))
    wal.sync()
    (segment,) = segment_files(tmp_path)
    before = segment.read_bytes()
    ops.budget = 1000  # the next chunk of zeros runs out of space part-way
    with pytest.raises(DiskFullError, match="preallocating"):
        wal.append(make_entries(11, 100))  # does not fit in the first chunk
    assert segment.read_bytes() == before
    assert wal.last_index() == 10
    assert metric_value(registry, "hive_storage_disk_full_total") == 1
    assert metric_value(registry, "hive_storage_disk_full_state") == 1
    ops.budget = None  # space was freed: the same batch goes in
    wal.append(make_entries(11, 100))
    wal.sync()
    assert metric_value(registry, "hive_storage_disk_full_state") == 0
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert reopened.entries(1, 111) == make_entries(1, 110)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_enospc_preallocating_a_new_segment_keeps_the_log_usable(
    tmp_path: Path, make_entries: Factory, segment_files: Files, full_disk_ops: type
) -> None:
    ops = full_disk_ops()
    wal = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=512, file_ops=ops)
    for entry in make_entries(1, 16, size=40):
        wal.append([entry])  # 16 + 16 * 64 = 1040 bytes: the next append rotates
    wal.close()  # reopened, nothing is prepared: the rotation creates the segment itself
    wal = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=512, file_ops=ops)
    ops.budget = SEGMENT_HEADER.size  # room for the new segment's header, not for its zeros
    with pytest.raises(DiskFullError):
        wal.append(make_entries(17, 1))
    assert wal.last_index() == 16
    sealed, empty = segment_files(tmp_path)
    assert sealed.stat().st_size == _logical_size(sealed)
    assert empty.stat().st_size == SEGMENT_HEADER.size
    ops.budget = None
    wal.append(make_entries(17, 1))
    wal.sync()
    wal.close()
    assert WriteAheadLog(tmp_path, segment_bytes=1024).last_index() == 17


def test_failed_fdatasync_while_preallocating_poisons_the_log(
    tmp_path: Path, make_entries: Factory, failing_sync_ops: type
) -> None:
    ops = failing_sync_ops()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, file_ops=ops)
    wal.append(make_entries(1, 1))
    ops.fail_sync = True
    with pytest.raises(StorageFailedError, match="preallocating"):
        wal.append(make_entries(2, 200))  # past the first chunk
    ops.fail_sync = False
    with pytest.raises(StorageFailedError, match="must be reopened"):
        wal.append(make_entries(2, 1))


def test_preallocation_costs_one_fdatasync_per_chunk(tmp_path: Path, make_entries: Factory) -> None:
    ops = CountingFileOps()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, file_ops=ops)
    ops.fdatasyncs = 0  # creating the first segment synced it
    entries = make_entries(1, 500, size=40)
    for entry in entries:
        wal.append([entry])
    wal.close()  # waits for the fill in flight
    (segment,) = tmp_path.glob("*.wal")
    extensions, rest = divmod(segment.stat().st_size - SEGMENT_HEADER.size, CHUNK)
    assert rest == 0
    assert extensions >= -(-(_records_size(entries) - SEGMENT_HEADER.size) // CHUNK)
    assert (ops.fdatasyncs, ops.ftruncates) == (extensions, 0)


def test_preallocate_zero_grows_the_file_with_every_write(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = CountingFileOps()
    registry = CollectorRegistry()
    wal = WriteAheadLog(
        tmp_path, segment_bytes=1024, preallocate_bytes=0, file_ops=ops, metrics=StorageMetrics(registry)
    )
    ops.fdatasyncs = 0  # creating the first segment synced it
    for entry in make_entries(1, 100, size=40):
        wal.append([entry])
        active = segment_files(tmp_path)[-1]
        assert active.stat().st_size == _logical_size(active)
    rotations = len(segment_files(tmp_path)) - 1
    assert (ops.fdatasyncs, ops.ftruncates) == (rotations, 0)  # one fdatasync per seal, as before
    assert metric_value(registry, "hive_wal_preallocate_seconds_count") == 0
    wal.close()
    assert WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=0).last_index() == 100


def test_negative_preallocation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preallocate_bytes"):
        WriteAheadLog(tmp_path, preallocate_bytes=-1)


def test_appends_never_zero_fill_themselves_when_the_background_fill_keeps_up(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = WatchedFileOps()
    registry = CollectorRegistry()
    wal = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, file_ops=ops, metrics=StorageMetrics(registry))
    entries = make_entries(1, 400, size=150)  # ~68 KiB: 17 chunks
    for entry in entries:
        wal.append([entry])
        wal._background.wait()  # stand-in for a worker that keeps up: the fill is done before the next append
        if entry.index % 50 == 0:
            wal.sync()
    wal.sync()
    assert ops.zeros_written_outside_the_fill_thread() == CHUNK  # only the first chunk: nothing was ahead
    assert metric_value(registry, "hive_wal_preallocate_waits_total") == 1
    wal.close()
    (segment,) = segment_files(tmp_path)
    chunks, rest = divmod(segment.stat().st_size - SEGMENT_HEADER.size, CHUNK)
    assert rest == 0
    assert chunks > 16
    assert sum(count for _, count in ops.zero_writes) == chunks * CHUNK  # each chunk filled once
    assert metric_value(registry, "hive_wal_preallocate_seconds_count") == chunks  # wherever the fill ran
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 401) == entries
    assert reopened.recovery.torn_bytes_truncated == 0


def test_streaming_appends_through_many_chunks_read_back_intact(
    tmp_path: Path, make_entries: Factory
) -> None:
    """No waiting for the fill by the test: whether appends wait or not, every entry must survive."""
    ops = WatchedFileOps()
    wal = WriteAheadLog(tmp_path, segment_bytes=64 * 1024, preallocate_bytes=CHUNK, file_ops=ops)
    entries = make_entries(1, 2000, size=150)  # ~340 KiB: several segments of 16 chunks
    for start in range(0, 2000, 4):
        wal.append(entries[start : start + 4])
        if start % 100 == 0:
            wal.sync()
    wal.sync()
    wal.close()
    assert ops.zeros_written_outside_the_fill_thread() < sum(count for _, count in ops.zero_writes)
    reopened = WriteAheadLog(tmp_path, segment_bytes=64 * 1024, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 2001) == entries
    assert reopened.recovery.torn_bytes_truncated == 0


def test_append_that_outruns_the_fill_waits_for_it(tmp_path: Path, make_entries: Factory) -> None:
    ops = WatchedFileOps()
    registry = CollectorRegistry()
    wal = _hold_a_fill(tmp_path, make_entries, ops, metrics=StorageMetrics(registry))
    fits = make_entries(16, 5, size=150)  # still inside the first chunk: must not wait
    wal.append(fits)
    outrunning = Background(lambda: wal.append(make_entries(21, 10, size=150)))  # ends in the held chunk
    outrunning.assert_blocked()
    assert ops.gate is not None
    ops.gate.set()
    outrunning.finish()
    assert ops.zeros_written_outside_the_fill_thread() == CHUNK  # it waited; it did not fill itself
    assert metric_value(registry, "hive_wal_preallocate_waits_total") == 2  # the first chunk, then this wait
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 31) == make_entries(1, 30, size=150)  # the fill did not zero the batch
    assert reopened.recovery.torn_bytes_truncated == 0


def test_enospc_in_a_background_fill_is_disk_full_on_the_append_that_needs_the_space(
    tmp_path: Path, make_entries: Factory, segment_files: Files, full_disk_ops: type
) -> None:
    disk = full_disk_ops()
    ops = WatchedFileOps(disk)
    registry = CollectorRegistry()
    wal = _hold_a_fill(tmp_path, make_entries, ops, metrics=StorageMetrics(registry))
    (segment,) = segment_files(tmp_path)
    before = segment.read_bytes()
    assert len(before) == SEGMENT_HEADER.size + CHUNK
    disk.budget = 1000  # the held fill runs out of space part-way
    assert ops.gate is not None
    ops.gate.set()
    wal._background.wait()  # the fill hit ENOSPC: cut back to where it started, the log not failed
    assert segment.read_bytes() == before
    with pytest.raises(DiskFullError, match="preallocating"):
        wal.append(make_entries(16, 15, size=150))  # past the first chunk
    assert segment.read_bytes() == before  # the fill's zeros were cut off again
    assert wal.last_index() == 15
    assert metric_value(registry, "hive_storage_disk_full_total") == 1
    assert metric_value(registry, "hive_storage_disk_full_state") == 1
    disk.budget = None  # space was freed: the same batch goes in
    wal.append(make_entries(16, 15, size=150))
    wal.sync()
    assert metric_value(registry, "hive_storage_disk_full_state") == 0
    wal.close()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 31) == make_entries(1, 30, size=150)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_failed_fdatasync_in_a_background_fill_poisons_the_log(
    tmp_path: Path, make_entries: Factory, failing_sync_ops: type
) -> None:
    disk = failing_sync_ops()
    ops = WatchedFileOps(disk)
    wal = _hold_a_fill(tmp_path, make_entries, ops)
    disk.fail_sync = True
    assert ops.gate is not None
    ops.gate.set()
    with pytest.raises(StorageFailedError, match="must be reopened"):
        wal.append(make_entries(16, 15, size=150))  # waits for the fill, finds the log failed
    disk.fail_sync = False
    with pytest.raises(StorageFailedError, match="must be reopened"):
        wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 16) == make_entries(1, 15, size=150)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_truncate_after_waits_for_the_fill_in_flight(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = WatchedFileOps()
    wal = _hold_a_fill(tmp_path, make_entries, ops)
    truncating = Background(lambda: wal.truncate_after(5))
    truncating.assert_blocked()
    assert ops.gate is not None
    ops.gate.set()
    truncating.finish()
    wal.close()
    (segment,) = segment_files(tmp_path)
    assert segment.stat().st_size == _logical_size(segment)  # no zeros landed after the truncation
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 6) == make_entries(1, 5, size=150)
    reopened.append(make_entries(6, 30, term=2, size=150))  # preallocates again, past the old fill
    reopened.sync()
    reopened.close()
    again = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert again.entries(6, 36) == make_entries(6, 30, term=2, size=150)
    assert again.recovery.torn_bytes_truncated == 0


def test_last_batch_of_a_segment_waits_for_the_fill_and_rotation_seals_cleanly(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = WatchedFileOps()
    limit = 6000
    wal = _hold_a_fill(tmp_path, make_entries, ops, segment_bytes=limit)  # the held fill stops at `limit`
    last = Background(lambda: wal.append(make_entries(16, 25, size=150)))  # grows the file past `limit`
    last.assert_blocked()
    assert ops.gate is not None
    ops.gate.set()
    last.finish()
    wal.append(make_entries(41, 1, size=150))  # the segment is full: rotate
    wal.sync()
    wal.close()
    sealed, _ = segment_files(tmp_path)
    assert sealed.stat().st_size == _records_size(make_entries(1, 40, size=150))
    reopened = WriteAheadLog(tmp_path, segment_bytes=limit)  # a zero tail in the sealed one is corruption
    assert reopened.entries(1, 42) == make_entries(1, 41, size=150)
    assert reopened.recovery.torn_bytes_truncated == 0


def test_close_waits_for_the_fill_and_stops_the_worker(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    ops = WatchedFileOps()
    wal = _hold_a_fill(tmp_path, make_entries, ops)
    closing = Background(wal.close)
    closing.assert_blocked()
    assert ops.gate is not None
    ops.gate.set()
    closing.finish()
    (worker,) = ops.fill_threads
    assert not worker.is_alive()
    (segment,) = segment_files(tmp_path)
    assert segment.stat().st_size == SEGMENT_HEADER.size + 2 * CHUNK  # the fill finished on an open fd
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK)
    assert reopened.entries(1, 16) == make_entries(1, 15, size=150)
    assert reopened.recovery.torn_bytes_truncated == 0
    with pytest.raises(StorageFailedError, match="closed"):
        wal.append(make_entries(16, 1))
