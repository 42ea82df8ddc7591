"""The WAL keeps no payloads in memory: ``entry``/``entries`` read records back from the segment files.

Checked here: retained memory does not grow with payload size while the bytes read back are exact;
reads are right after rotation, ``truncate_after``, ``compact_through`` and reopening, also for
entries appended but not yet synced and while a background fill writes zeros further on; and a
record damaged on disk after it was written is reported, not returned.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from hive_runtime.storage import CorruptLogError, LogEntry, WriteAheadLog
from hive_runtime.storage.record import SEGMENT_HEADER, encode_record

from .test_wal_preallocation import WatchedFileOps, _hold_a_fill

Factory = Callable[..., list[LogEntry]]
Files = Callable[[Path], list[Path]]


def _payload(index: int, size: int) -> bytes:
    return index.to_bytes(8, "little") * (size // 8)


def _within(entries: list[LogEntry], max_bytes: int) -> list[LogEntry]:
    """The prefix ``entries(..., max_bytes=...)`` promises: data up to ``max_bytes``, at least one entry."""
    total = 0
    for count, entry in enumerate(entries):
        total += len(entry.data)
        if total > max_bytes and count > 0:
            return entries[:count]
    return entries


def test_retained_memory_does_not_grow_with_payload_size(tmp_path: Path) -> None:
    count, size = 2000, 4096
    wal = WriteAheadLog(tmp_path, segment_bytes=2 * 1024 * 1024, preallocate_bytes=256 * 1024)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for first in range(1, count + 1, 10):
            wal.append([LogEntry(index=i, term=3, data=_payload(i, size)) for i in range(first, first + 10)])
        wal.sync()
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < count * size // 50  # under 2% of the payloads: ~16 bytes an entry plus the segments
    assert wal.last_index() == count
    entries = wal.entries(1, count + 1)
    assert entries == [LogEntry(index=i, term=3, data=_payload(i, size)) for i in range(1, count + 1)]
    assert wal.entry(1234) == LogEntry(index=1234, term=3, data=_payload(1234, size))
    wal.close()


def test_reads_after_rotation_truncation_compaction_and_reopen(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=256)
    model = make_entries(1, 100, term=1, size=40)
    for start in range(0, 100, 3):
        wal.append(model[start : start + 3])
    assert len(segment_files(tmp_path)) > 5
    assert wal.entries(1, 101) == model  # nothing synced yet: read from the page cache
    assert wal.entries(30, 70) == model[29:69]  # spans segments
    assert [wal.entry(i) for i in (1, 17, 18, 100)] == [model[0], model[16], model[17], model[99]]
    wal.sync()

    boundary = int(segment_files(tmp_path)[3].name.removesuffix(".wal"))
    wal.truncate_after(boundary - 1)  # at a segment boundary
    model = model[: boundary - 1] + make_entries(boundary, 20, term=2, size=24)
    wal.append(model[boundary - 1 :])
    assert wal.entries(1, len(model) + 1) == model
    wal.truncate_after(boundary + 5)  # inside a segment
    del model[boundary + 5 :]
    model += make_entries(boundary + 6, 7, term=3, size=70)
    wal.append(model[boundary + 5 :])
    assert wal.entries(boundary, len(model) + 1) == model[boundary - 1 :]
    assert wal.term(boundary + 6) == 3

    dropped = wal.compact_through(boundary)
    assert dropped > 0
    first = wal.first_index()
    assert wal.entries(first, len(model) + 1) == model[first - 1 :]
    for max_bytes in (1, 24, 48, 100, 1000):
        expected = _within(model[first - 1 :], max_bytes)
        assert len(expected) == len(model) - first + 1 if max_bytes == 1000 else len(expected) < 6
        assert wal.entries(first, len(model) + 1, max_bytes=max_bytes) == expected
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024, preallocate_bytes=256)
    assert reopened.entries(first, len(model) + 1) == model[first - 1 :]
    reopened.close()


def test_reads_of_the_active_segment_while_a_fill_writes_zeros_further_on(
    tmp_path: Path, make_entries: Factory
) -> None:
    ops = WatchedFileOps()
    wal = _hold_a_fill(tmp_path, make_entries, ops)  # a fill of the next chunk, held before it writes
    assert ops.gate is not None
    reads: list[list[LogEntry]] = []
    reader = threading.Thread(target=lambda: reads.append(wal.entries(1, 16)))
    ops.gate.set()  # the fill runs while the entries are read back
    reader.start()
    reader.join(10)
    assert reads == [make_entries(1, 15, size=150)]
    wal.close()


def test_a_record_damaged_on_disk_after_it_was_written_is_reported(
    tmp_path: Path, make_entries: Factory, segment_files: Files
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(make_entries(1, 10, size=40))
    wal.sync()
    (segment,) = segment_files(tmp_path)
    record = len(encode_record(make_entries(1, 1, size=40)[0]))
    with segment.open("r+b") as handle:  # a bit flips in the data of entry 4
        handle.seek(SEGMENT_HEADER.size + 3 * record + 30)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x10]))
    assert wal.entries(1, 4) == make_entries(1, 3, size=40)
    with pytest.raises(CorruptLogError, match="bad_crc"):
        wal.entries(1, 11)
    with pytest.raises(CorruptLogError, match="bad_crc"):
        wal.entry(4)
    assert wal.term(4) == 1  # terms are kept in memory
    wal.close()
