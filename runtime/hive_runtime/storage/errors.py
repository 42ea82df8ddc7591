"""The ways durable storage can fail, as distinct types the node driver can react to differently.

- :class:`DiskFullError`: the disk is full; nothing on disk was changed, the write can be retried
  once space is freed. The node stops accepting writes, it does not crash.
- :class:`CorruptLogError`: recovery found damage it must not guess about (a bad record followed by
  more records, a gap in indices, a damaged segment that is not the last). Needs an operator.
- :class:`StorageFailedError`: an fsync or write failed in a way that leaves the page cache state
  unknown; the process must restart and recover from what is on disk.
- :class:`SnapshotCorruptError`: a snapshot file does not match its checksum.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class for storage errors."""


class DiskFullError(StorageError):
    """A write failed with ENOSPC; on-disk data is unchanged and the write may be retried later."""


class CorruptLogError(StorageError):
    """The write-ahead log is damaged somewhere other than a torn tail; refusing to start."""


class StorageFailedError(StorageError):
    """A write or fsync failed; the log refuses further use until the process recovers from disk."""


class SnapshotCorruptError(StorageError):
    """A snapshot file is truncated or does not match its checksum."""


class LogCompactedError(StorageError):
    """The requested entries were dropped by compaction; the caller needs the snapshot instead."""


class LogIndexError(StorageError):
    """An append or read is not contiguous with the log (a caller bug, not disk damage)."""
