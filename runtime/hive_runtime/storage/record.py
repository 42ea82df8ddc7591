"""Byte layout of WAL segments and records: pure encode/decode, no I/O.

Segment file = header + records. Header (16 bytes): magic ``b"HIVEWAL1"`` then the index of the
segment's first entry as little-endian u64 (so an empty segment still says where the log resumes).
Record = ``length:u32le | crc:u32le | body``, where ``body = index:u64le | term:u64le | data`` and
``crc = crc32c(length bytes + body)`` (covering the length means a flipped length bit is caught).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import google_crc32c

SEGMENT_MAGIC = b"HIVEWAL1"
SEGMENT_HEADER = struct.Struct("<8sQ")
RECORD_HEADER = struct.Struct("<II")
ENTRY_PREFIX = struct.Struct("<QQ")
MAX_RECORD_BODY = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One Raft log entry as storage sees it: opaque ``data`` at ``index`` written in ``term``."""

    index: int
    term: int
    data: bytes


def crc32c(data: bytes) -> int:
    return int(google_crc32c.value(data))


def encode_segment_header(first_index: int) -> bytes:
    return SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_index)


def decode_segment_header(raw: bytes) -> int | None:
    """The first index a header names, or ``None`` if it is short or has the wrong magic."""
    if len(raw) < SEGMENT_HEADER.size:
        return None
    magic, first_index = SEGMENT_HEADER.unpack_from(raw)
    return int(first_index) if magic == SEGMENT_MAGIC else None


def encode_record(entry: LogEntry) -> bytes:
    body = ENTRY_PREFIX.pack(entry.index, entry.term) + entry.data
    if len(body) > MAX_RECORD_BODY:
        raise ValueError(f"entry {entry.index} is {len(body)} bytes, over the {MAX_RECORD_BODY} limit")
    length = struct.pack("<I", len(body))
    return length + struct.pack("<I", google_crc32c.extend(google_crc32c.value(length), body)) + body


class RecordProblem:
    """Why a record could not be decoded; ``TRUNCATED`` can be a torn tail, ``BAD_CRC`` maybe."""

    TRUNCATED = "truncated"
    BAD_CRC = "bad_crc"
    BAD_LENGTH = "bad_length"


@dataclass(frozen=True, slots=True)
class DecodedRecord:
    entry: LogEntry
    end_offset: int


@dataclass(frozen=True, slots=True)
class RecordDefect:
    problem: str
    offset: int
    end_offset: int | None  # where the damaged record would end, when its length is plausible


def decode_record(buffer: bytes, offset: int) -> DecodedRecord | RecordDefect:
    """Decode the record starting at ``offset`` of ``buffer``."""
    if offset + RECORD_HEADER.size > len(buffer):
        return RecordDefect(RecordProblem.TRUNCATED, offset, None)
    length, expected_crc = RECORD_HEADER.unpack_from(buffer, offset)
    if length < ENTRY_PREFIX.size or length > MAX_RECORD_BODY:
        return RecordDefect(RecordProblem.BAD_LENGTH, offset, None)
    body_start = offset + RECORD_HEADER.size
    end = body_start + length
    if end > len(buffer):
        return RecordDefect(RecordProblem.TRUNCATED, offset, None)
    body = buffer[body_start:end]
    actual_crc = google_crc32c.extend(google_crc32c.value(buffer[offset : offset + 4]), body)
    if actual_crc != expected_crc:
        return RecordDefect(RecordProblem.BAD_CRC, offset, end)
    index, term = ENTRY_PREFIX.unpack_from(body)
    data = body[ENTRY_PREFIX.size :]
    return DecodedRecord(LogEntry(index=index, term=term, data=data), end)
