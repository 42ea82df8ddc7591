"""Appending, reading back, syncing, rotating and reopening the WAL on a real filesystem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hive_runtime.storage import LogCompactedError, LogEntry, LogIndexError, WriteAheadLog


def test_empty_log_starts_at_one(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    assert (wal.first_index(), wal.last_index(), wal.synced_index) == (1, 0, 0)
    assert wal.entries(1, 1) == []


def test_append_sync_reopen_returns_same_entries(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]]
) -> None:
    wal = WriteAheadLog(tmp_path)
    entries = make_entries(1, 50, term=3)
    wal.append(entries[:20])
    wal.append(entries[20:])
    assert wal.synced_index == 0
    assert wal.sync() == 50
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert reopened.entries(1, 51) == entries
    assert reopened.term(7) == 3
    assert reopened.recovery.torn_bytes_truncated == 0


def test_append_must_be_contiguous(tmp_path: Path, make_entries: Callable[..., list[LogEntry]]) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(make_entries(1, 3))
    with pytest.raises(LogIndexError):
        wal.append([LogEntry(index=5, term=1, data=b"x")])
    with pytest.raises(LogIndexError):
        wal.term(4)


def test_entries_respects_max_bytes_but_returns_at_least_one(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]]
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(make_entries(1, 10, size=100))
    assert len(wal.entries(1, 11, max_bytes=250)) == 2
    assert len(wal.entries(1, 11, max_bytes=10)) == 1


def test_segments_rotate_and_survive_reopen(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]], segment_files: Callable[[Path], list[Path]]
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    entries = make_entries(1, 200, size=40)
    for entry in entries:
        wal.append([entry])
    wal.sync()
    wal.close()
    assert len(segment_files(tmp_path)) > 5
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024)
    assert reopened.entries(1, 201) == entries
    assert reopened.recovery.segments == len(segment_files(tmp_path))


def test_compaction_drops_whole_segments_before_index_only(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]], segment_files: Callable[[Path], list[Path]]
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    for entry in make_entries(1, 200, size=40):
        wal.append([entry])
    wal.sync()
    before = len(segment_files(tmp_path))
    dropped = wal.compact_through(100)
    assert dropped > 0
    assert len(segment_files(tmp_path)) == before - dropped
    assert 1 < wal.first_index() <= 101
    assert wal.entries(101, 201)[0].index == 101
    with pytest.raises(LogCompactedError):
        wal.term(1)
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024)
    assert reopened.first_index() == wal.first_index()
    assert reopened.last_index() == 200


@pytest.mark.parametrize("cut", [0, 1, 57, 120, 199])
def test_truncate_after_replaces_suffix_durably(
    tmp_path: Path, cut: int, make_entries: Callable[..., list[LogEntry]]
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    for entry in make_entries(1, 200, term=1, size=40):
        wal.append([entry])
    wal.sync()
    wal.truncate_after(cut)
    assert wal.last_index() == cut
    replacement = make_entries(cut + 1, 30, term=2, size=40)
    wal.append(replacement)
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path, segment_bytes=1024)
    assert reopened.last_index() == cut + 30
    assert [e.term for e in reopened.entries(1, cut + 31)] == [1] * cut + [2] * 30


def test_truncate_at_a_segment_boundary(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]], segment_files: Callable[[Path], list[Path]]
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1024)
    for entry in make_entries(1, 100, size=40):
        wal.append([entry])
    second_segment_first = int(segment_files(tmp_path)[1].name.removesuffix(".wal"))
    wal.truncate_after(second_segment_first - 1)
    assert len(segment_files(tmp_path)) == 1
    wal.append(make_entries(second_segment_first, 1, term=5))
    wal.sync()
    wal.close()
    assert WriteAheadLog(tmp_path, segment_bytes=1024).term(second_segment_first) == 5


def test_reset_continues_after_snapshot_index(
    tmp_path: Path, make_entries: Callable[..., list[LogEntry]]
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.append(make_entries(1, 10))
    wal.reset(next_index=501)
    assert (wal.first_index(), wal.last_index()) == (501, 500)
    wal.append(make_entries(501, 2, term=9))
    wal.sync()
    wal.close()
    reopened = WriteAheadLog(tmp_path)
    assert (reopened.first_index(), reopened.last_index(), reopened.term(502)) == (501, 502, 9)
