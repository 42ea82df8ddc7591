"""Reading one WAL segment file back and deciding what a damaged end means.

Recovery rules (see docs/runtime-internals.md):
- zero bytes from the end of the last valid record to end-of-file are a *zero tail*: space the
  WAL preallocated (or blocks a filesystem allocated but never wrote). Nothing acknowledged lives
  there, so it is not damage; the WAL keeps writing over it.
- a record cut short by end-of-file, or a bad record followed by nothing or only zero bytes, is a
  *torn tail* of the last segment: the write was in flight at the crash and was never
  acknowledged, so it is truncated away and counted.
- a bad record in the last segment that overlaps a 512-byte disk sector reading as zeros from
  the record's start on is torn too, even when more data follows it, and that data goes with it.
  Preallocation makes this shape possible: overwriting already-allocated blocks has no file-size
  commit to order it, so after a power loss any subset of the sectors of the in-flight (never
  fdatasync'ed, never acknowledged) batch may have landed. The price: corruption of a record
  whose own data held a whole aligned sector of zeros (or whose length is a multiple of 256 and
  starts within 3 bytes of a sector end) would be taken for a torn write.
- the same damage in any segment but the last (which also must not have a zero tail: rotation
  truncates it), a bad record followed by more data that shows no unwritten bytes, or an index
  that does not follow its predecessor is *corruption*: :class:`CorruptLogError`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.record import (
    RECORD_HEADER,
    SEGMENT_HEADER,
    LogEntry,
    RecordDefect,
    RecordProblem,
    decode_record,
    decode_segment_header,
)

SEGMENT_SUFFIX = ".wal"
SECTOR_BYTES = 512  # the unit a disk writes atomically: a crash leaves each one old or new


def _all_zero(raw: bytes, start: int | None) -> bool:
    """True when ``raw[start:]`` is empty or only zero bytes (blocks a crash left unwritten)."""
    if start is None:
        return False
    return raw.count(0, start) == len(raw) - start


def _shows_unwritten_bytes(raw: bytes, offset: int, extent_end: int) -> bool:
    """True when the damaged record ``raw[offset:extent_end]`` holds a sector a crash left unwritten.

    Each sector of an interrupted write is either all new or all old, and past the durable end the
    old bytes are zeros; so look for a sector overlapping the record whose part from the record's
    start on reads as zeros. (In the record's first sector that part starts with the length field,
    which is never zero in a finished record; a shorter part there is 1-3 low length bytes.)
    """
    first_sector = offset - offset % SECTOR_BYTES
    for sector in range(first_sector, extent_end, SECTOR_BYTES):
        low, high = max(sector, offset), min(sector + SECTOR_BYTES, len(raw))
        if low < high and raw.count(0, low, high) == high - low:
            return True
    return False


def _torn_end(raw: bytes, defect: RecordDefect) -> int | None:
    """Where the bytes of an interrupted write end, or ``None`` when ``defect`` looks like corruption."""
    if defect.problem == RecordProblem.TRUNCATED:
        return len(raw)
    if defect.end_offset is not None and _all_zero(raw, defect.end_offset):
        return defect.end_offset
    extent_end = defect.end_offset
    if extent_end is None:  # bad length: only the record header is known to be this record's
        extent_end = min(defect.offset + RECORD_HEADER.size, len(raw))
    if _shows_unwritten_bytes(raw, defect.offset, extent_end):
        # Everything up to the last non-zero byte belongs to the in-flight batch.
        return max(extent_end, len(raw.rstrip(b"\0")))
    return None


def segment_name(first_index: int) -> str:
    return f"{first_index:020d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    stem = name.removesuffix(SEGMENT_SUFFIX)
    if name.endswith(SEGMENT_SUFFIX) and len(stem) == 20 and stem.isdigit():
        return int(stem)
    return None


@dataclass
class SegmentScan:
    """What a segment holds after validation: ``valid_end + torn_bytes + zero_tail_bytes`` is its size."""

    first_index: int
    entries: list[LogEntry] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # byte offset of each entry's record
    valid_end: int = SEGMENT_HEADER.size  # bytes worth keeping
    torn_bytes: int = 0  # bytes of an interrupted write after valid_end: recovery truncates them
    zero_tail_bytes: int = 0  # zero bytes after the torn bytes (or after valid_end): preallocated


def scan_segment(raw: bytes, *, path: Path, expected_first_index: int | None, is_last: bool) -> SegmentScan:
    """Validate ``raw`` (a whole segment file) and return its entries; raise on corruption."""
    first_index = decode_segment_header(raw)
    if first_index is None:
        raise CorruptLogError(f"{path}: missing or invalid segment header")
    if expected_first_index is not None and first_index != expected_first_index:
        raise CorruptLogError(
            f"{path}: segment starts at index {first_index}, expected {expected_first_index} (gap or overlap)"
        )
    scan = SegmentScan(first_index=first_index)
    offset = SEGMENT_HEADER.size
    next_index = first_index
    while offset < len(raw):
        decoded = decode_record(raw, offset)
        if isinstance(decoded, RecordDefect):
            _classify_end(scan, raw, decoded, path=path, index=next_index, is_last=is_last)
            break
        if decoded.entry.index != next_index:
            raise CorruptLogError(
                f"{path}: record at byte {offset} has index {decoded.entry.index}, expected {next_index}"
            )
        scan.entries.append(decoded.entry)
        scan.offsets.append(offset)
        next_index += 1
        offset = decoded.end_offset
    scan.valid_end = offset
    return scan


def _classify_end(
    scan: SegmentScan, raw: bytes, defect: RecordDefect, *, path: Path, index: int, is_last: bool
) -> None:
    """Fill ``scan.torn_bytes``/``zero_tail_bytes`` for the bytes from ``defect.offset`` on, or raise."""
    offset = defect.offset
    if _all_zero(raw, offset):
        torn_end = offset
    else:
        found = _torn_end(raw, defect)
        if found is None:
            raise CorruptLogError(
                f"{path}: {defect.problem} record at byte {offset} (index {index}) followed by more data"
            )
        torn_end = found
    if not is_last:
        what = "zero tail" if torn_end == offset else f"{defect.problem} record"
        raise CorruptLogError(f"{path}: {what} at byte {offset} in a sealed segment")
    if defect.problem == RecordProblem.TRUNCATED:  # the file ends inside the record: all written
        scan.torn_bytes = torn_end - offset
    else:
        # Count what the interrupted write left, not the preallocated zeros its record would have
        # covered: up to its last non-zero byte (zeros it wrote at its very end cannot be told
        # apart from the preallocated ones, so they count as the zero tail).
        scan.torn_bytes = len(raw[offset:torn_end].rstrip(b"\0"))
    scan.zero_tail_bytes = len(raw) - offset - scan.torn_bytes
