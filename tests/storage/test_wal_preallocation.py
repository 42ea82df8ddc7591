"""Preallocation: the active segment keeps durable zeros ahead of its logical end, appends overwrite them.

Checked here: the zeros are never mistaken for damage (and genuine damage still is), sealed
segments end at their last record, truncation/reset/disk-full keep their promises, and
``preallocate_bytes=0`` grows the file with every write as before.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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

Factory = Callable[..., list[LogEntry]]
Files = Callable[[Path], list[Path]]
CHUNK = 4096


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


def _logical_size(segment: Path) -> int:
    """Where the records of ``segment`` end (what recovery keeps)."""
    return scan_segment(segment.read_bytes(), path=segment, expected_first_index=None, is_last=True).valid_end


def _records_size(entries: list[LogEntry]) -> int:
    return SEGMENT_HEADER.size + sum(len(encode_record(entry)) for entry in entries)


def _sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None
    return value


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
    assert logical < on_disk <= logical + CHUNK
    assert (on_disk - SEGMENT_HEADER.size) % CHUNK == 0
    extensions = (on_disk - SEGMENT_HEADER.size) // CHUNK
    assert _sample(registry, "hive_wal_preallocate_seconds_count") == extensions

    registry = CollectorRegistry()
    reopened = WriteAheadLog(tmp_path, preallocate_bytes=CHUNK, metrics=StorageMetrics(registry))
    assert reopened.entries(1, 301) == entries
    assert reopened.recovery.torn_bytes_truncated == 0
    assert _sample(registry, "hive_wal_torn_tail_bytes_total") == 0
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
    assert reopened.recovery.torn_bytes_truncated == len(record)  # the record, not the zeros after it
    assert _sample(registry, "hive_wal_torn_tail_bytes_total") == len(record)
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
    assert _sample(registry, "hive_storage_disk_full_total") == 1
    assert _sample(registry, "hive_storage_disk_full_state") == 1
    ops.budget = None  # space was freed: the same batch goes in
    wal.append(make_entries(11, 100))
    wal.sync()
    assert _sample(registry, "hive_storage_disk_full_state") == 0
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
    extensions = -(-(_records_size(entries) - SEGMENT_HEADER.size) // CHUNK)
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
    assert _sample(registry, "hive_wal_preallocate_seconds_count") == 0
    wal.close()
    assert WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=0).last_index() == 100


def test_negative_preallocation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="preallocate_bytes"):
        WriteAheadLog(tmp_path, preallocate_bytes=-1)
