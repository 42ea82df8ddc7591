"""Damaged segments: the scanner either refuses or returns a prefix of what was written, never wrong data."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_runtime.storage import CorruptLogError, LogEntry
from hive_runtime.storage.record import encode_record, encode_segment_header
from hive_runtime.storage.segment import SECTOR_BYTES, scan_segment

ENTRIES = [LogEntry(index=i, term=1 + i // 5, data=bytes([i]) * (i * 3 % 40)) for i in range(1, 21)]
SEGMENT = encode_segment_header(1) + b"".join(encode_record(entry) for entry in ENTRIES)


@settings(max_examples=400)
@given(
    flips=st.lists(st.tuples(st.integers(16, len(SEGMENT) - 1), st.integers(1, 255)), max_size=3),
    cut=st.integers(16, len(SEGMENT)),
    is_last=st.booleans(),
)
def test_damage_is_refused_or_yields_a_clean_prefix(
    flips: list[tuple[int, int]], cut: int, is_last: bool
) -> None:
    raw = bytearray(SEGMENT[:cut])
    for position, mask in flips:
        if position < len(raw):
            raw[position] ^= mask
    try:
        scan = scan_segment(bytes(raw), path=Path("seg.wal"), expected_first_index=1, is_last=is_last)
    except CorruptLogError:
        return
    assert scan.entries == ENTRIES[: len(scan.entries)]
    assert scan.valid_end + scan.torn_bytes + scan.zero_tail_bytes == len(raw)
    if not is_last:
        assert scan.torn_bytes == 0
    if not flips and cut == len(SEGMENT):
        assert scan.entries == ENTRIES


# Entries of a few hundred bytes, so one batch spans many 512-byte sectors.
BIG_ENTRIES = [LogEntry(index=i, term=1, data=bytes([i]) * (100 + i * 37 % 500)) for i in range(1, 31)]
BIG_RECORDS = [encode_record(entry) for entry in BIG_ENTRIES]


@settings(max_examples=300)
@given(synced=st.integers(0, 30), lost_sectors=st.sets(st.integers(0, 40)), tail=st.integers(0, 3000))
def test_preallocated_batch_torn_by_sector_recovers_the_synced_prefix(
    synced: int, lost_sectors: set[int], tail: int
) -> None:
    """A power loss during an unsynced write into preallocated zeros: any subset of its sectors is lost.

    Recovery must never refuse such a file, and must return every synced entry and only entries
    that were written.
    """
    durable = encode_segment_header(1) + b"".join(BIG_RECORDS[:synced])
    written = durable + b"".join(BIG_RECORDS[synced:])
    raw = bytearray(written + bytes(tail))  # the preallocated zeros past the batch
    for sector in lost_sectors:  # sectors past the durable end that never reached the disk
        start = max(sector * SECTOR_BYTES, len(durable))
        end = min((sector + 1) * SECTOR_BYTES, len(written))
        raw[start:end] = bytes(max(0, end - start))
    scan = scan_segment(bytes(raw), path=Path("seg.wal"), expected_first_index=1, is_last=True)
    assert synced <= len(scan.entries)
    assert scan.entries == BIG_ENTRIES[: len(scan.entries)]
    assert scan.valid_end + scan.torn_bytes + scan.zero_tail_bytes == len(raw)
    if len(scan.entries) == len(BIG_ENTRIES):
        assert scan.torn_bytes == 0
