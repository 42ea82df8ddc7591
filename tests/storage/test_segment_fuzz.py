"""Damaged segments: the scanner either refuses or returns a prefix of what was written, never wrong data."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from hive_runtime.storage import CorruptLogError, LogEntry
from hive_runtime.storage.record import encode_record, encode_segment_header
from hive_runtime.storage.segment import scan_segment

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
    assert scan.valid_end + scan.torn_bytes == len(raw)
    if not is_last:
        assert scan.torn_bytes == 0
    if not flips and cut == len(SEGMENT):
        assert scan.entries == ENTRIES
