"""Reading one WAL segment file back and deciding what a damaged end means.

Recovery rules (see docs/runtime-internals.md):
- a record cut short by end-of-file, a bad CRC on a record followed by nothing or only zero
  bytes, or an all-zero tail is a *torn tail* of the last segment: the write was in flight at the
  crash and was never acknowledged, so it is truncated away;
- the same damage in any segment but the last, a bad record followed by more bytes, or an index
  that does not follow its predecessor is *corruption*: :class:`CorruptLogError`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hive_runtime.storage.errors import CorruptLogError
from hive_runtime.storage.record import (
    SEGMENT_HEADER,
    DecodedRecord,
    LogEntry,
    RecordProblem,
    decode_record,
    decode_segment_header,
)

SEGMENT_SUFFIX = ".wal"


def _all_zero(raw: bytes, start: int | None) -> bool:
    """True when ``raw[start:]`` is empty or only zero bytes (blocks a crash left unwritten)."""
    if start is None:
        return False
    return raw.count(0, start) == len(raw) - start


def segment_name(first_index: int) -> str:
    return f"{first_index:020d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    stem = name.removesuffix(SEGMENT_SUFFIX)
    if name.endswith(SEGMENT_SUFFIX) and len(stem) == 20 and stem.isdigit():
        return int(stem)
    return None


@dataclass
class SegmentScan:
    """What a segment holds after validation."""

    first_index: int
    entries: list[LogEntry] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # byte offset of each entry's record
    valid_end: int = SEGMENT_HEADER.size  # bytes worth keeping
    torn_bytes: int = 0  # bytes past valid_end that recovery must truncate


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
        if isinstance(decoded, DecodedRecord):
            if decoded.entry.index != next_index:
                raise CorruptLogError(
                    f"{path}: record at byte {offset} has index {decoded.entry.index}, expected {next_index}"
                )
            scan.entries.append(decoded.entry)
            scan.offsets.append(offset)
            next_index += 1
            offset = decoded.end_offset
            continue
        torn = (
            decoded.problem == RecordProblem.TRUNCATED
            or (decoded.problem == RecordProblem.BAD_CRC and _all_zero(raw, decoded.end_offset))
            or _all_zero(raw, offset)
        )
        if not torn:
            raise CorruptLogError(
                f"{path}: {decoded.problem} record at byte {offset} (index {next_index}) "
                "followed by more data"
            )
        if not is_last:
            raise CorruptLogError(f"{path}: {decoded.problem} record at byte {offset} in a sealed segment")
        scan.torn_bytes = len(raw) - offset
        break
    scan.valid_end = offset
    return scan
