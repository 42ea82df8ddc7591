"""Recovery: a torn tail is truncated, damage anywhere else refuses to open with a clear error."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hive_runtime.storage import CorruptLogError, LogEntry, WriteAheadLog
from hive_runtime.storage.record import encode_record
from hive_runtime.storage.wal import DEFAULT_SEGMENT_BYTES

Factory = Callable[..., list[LogEntry]]


def _write_log(
    directory: Path,
    make_entries: Factory,
    count: int = 20,
    *,
    segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    preallocate_bytes: int = 0,
) -> list[LogEntry]:
    """Write ``count`` entries, by default without preallocation, so each file ends at its last record.

    The tests below damage that end to stand for a crash; preallocated files (which end in zeros)
    are covered in test_wal_preallocation.py. Reopening uses the default (preallocating) log.
    """
    wal = WriteAheadLog(directory, segment_bytes=segment_bytes, preallocate_bytes=preallocate_bytes)
    entries = make_entries(1, count)
    for entry in entries:
        wal.append([entry])
    wal.sync()
    wal.close()
    return entries


def _only_segment(directory: Path) -> Path:
    (segment,) = directory.glob("*.wal")
    return segment


@pytest.mark.parametrize("cut_bytes", [1, 4, 8, 12, 20])
def test_partial_last_record_is_truncated(tmp_path: Path, make_entries: Factory, cut_bytes: int) -> None:
    entries = _write_log(tmp_path, make_entries)
    segment = _only_segment(tmp_path)
    size = segment.stat().st_size
    with segment.open("r+b") as handle:
        handle.truncate(size - cut_bytes)
    wal = WriteAheadLog(tmp_path)
    assert wal.last_index() == 19
    assert wal.entries(1, 20) == entries[:19]
    assert wal.recovery.torn_bytes_truncated == len(encode_record(entries[19])) - cut_bytes
    assert segment.stat().st_size == size - len(encode_record(entries[19]))
    wal.append(make_entries(20, 1, term=2))  # the log is usable again
    wal.sync()


def test_bad_crc_on_last_record_is_a_torn_tail(tmp_path: Path, make_entries: Factory) -> None:
    _write_log(tmp_path, make_entries)
    segment = _only_segment(tmp_path)
    raw = bytearray(segment.read_bytes())
    raw[-1] ^= 0xFF
    segment.write_bytes(bytes(raw))
    assert WriteAheadLog(tmp_path).last_index() == 19


@pytest.mark.parametrize("preallocate_bytes", [0, 1 << 20])
def test_zero_filled_tail_is_not_damage(
    tmp_path: Path, make_entries: Factory, preallocate_bytes: int
) -> None:
    """Zeros after the last record hold nothing acknowledged: not counted; kept if preallocating."""
    _write_log(tmp_path, make_entries)
    segment = _only_segment(tmp_path)
    logical_size = segment.stat().st_size
    with segment.open("ab") as handle:
        handle.write(b"\0" * 4096)
    wal = WriteAheadLog(tmp_path, preallocate_bytes=preallocate_bytes)
    assert wal.last_index() == 20
    assert wal.recovery.torn_bytes_truncated == 0
    assert segment.stat().st_size == (logical_size + 4096 if preallocate_bytes else logical_size)
    wal.append(make_entries(21, 1))
    wal.sync()
    wal.close()
    assert WriteAheadLog(tmp_path).entries(1, 22) == make_entries(1, 21)


def test_corrupt_record_in_the_middle_is_refused(tmp_path: Path, make_entries: Factory) -> None:
    entries = _write_log(tmp_path, make_entries)
    segment = _only_segment(tmp_path)
    raw = bytearray(segment.read_bytes())
    offset = 16 + sum(len(encode_record(e)) for e in entries[:5]) + 20  # inside record 6's data
    raw[offset] ^= 0x01
    segment.write_bytes(bytes(raw))
    with pytest.raises(CorruptLogError, match=r"bad_crc record .* followed by more data"):
        WriteAheadLog(tmp_path)
    assert segment.read_bytes() == bytes(raw)  # refusing never rewrites anything


def test_damage_in_a_sealed_segment_is_refused(tmp_path: Path, make_entries: Factory) -> None:
    _write_log(tmp_path, make_entries, count=100, segment_bytes=512)
    first = sorted(tmp_path.glob("*.wal"))[0]
    with first.open("r+b") as handle:
        handle.truncate(first.stat().st_size - 3)
    with pytest.raises(CorruptLogError, match="sealed segment"):
        WriteAheadLog(tmp_path, segment_bytes=512)


def test_missing_middle_segment_is_refused(tmp_path: Path, make_entries: Factory) -> None:
    _write_log(tmp_path, make_entries, count=100, segment_bytes=512)
    sorted(tmp_path.glob("*.wal"))[1].unlink()
    with pytest.raises(CorruptLogError, match="gap or overlap"):
        WriteAheadLog(tmp_path, segment_bytes=512)


def test_segment_with_torn_header_after_rotation_is_dropped(tmp_path: Path, make_entries: Factory) -> None:
    _write_log(tmp_path, make_entries, count=100, segment_bytes=512)
    (tmp_path / f"{101:020d}.wal").write_bytes(b"HIVE")
    wal = WriteAheadLog(tmp_path, segment_bytes=512)
    assert wal.last_index() == 100
    wal.append(make_entries(101, 1))
    wal.sync()


def test_torn_tail_found_by_random_cut_points(tmp_path: Path, make_entries: Factory) -> None:
    """Every cut point of the last segment recovers exactly the records wholly before it."""
    entries = _write_log(tmp_path / "source", make_entries, count=8)
    raw = _only_segment(tmp_path / "source").read_bytes()
    boundaries = [16]
    for entry in entries:
        boundaries.append(boundaries[-1] + len(encode_record(entry)))
    for cut in range(16, len(raw) + 1, 7):
        directory = tmp_path / f"cut{cut}"
        directory.mkdir()
        (directory / f"{1:020d}.wal").write_bytes(raw[:cut])
        expected = sum(1 for boundary in boundaries[1:] if boundary <= cut)
        assert WriteAheadLog(directory).last_index() == expected


def test_bad_crc_followed_only_by_zero_blocks_is_torn(tmp_path: Path, make_entries: Factory) -> None:
    """The last write half landed and the filesystem shows the rest of its block as zeros."""
    entries = _write_log(tmp_path, make_entries)
    segment = _only_segment(tmp_path)
    raw = segment.read_bytes()
    last = len(encode_record(entries[-1]))
    damaged = raw[: len(raw) - last + 12] + b"\0" * (last - 12) + b"\0" * 100
    segment.write_bytes(damaged)
    wal = WriteAheadLog(tmp_path)
    assert wal.last_index() == 19
    # What landed of the damaged record (up to its last non-zero byte), not the zeros after it.
    assert wal.recovery.torn_bytes_truncated == len(encode_record(entries[-1])[:12].rstrip(b"\0"))
