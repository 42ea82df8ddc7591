"""Snapshot files: the state machine at an index, with a checksum verified on every load.

File ``snap-<index:020d>-<term:020d>.snap`` = magic ``b"HIVESNP1"`` | meta length:u32le | meta |
data, where meta is msgpack ``{"index", "term", "membership", "size", "crc32c"}`` and the CRC covers
the data. Files are written atomically (temp, fsync, rename, fsync directory); the newest
``keep`` snapshots are retained (``storage.snapshots_kept``). Saves may come from the snapshot
writer's worker thread and from the owner's thread (a snapshot installed from the leader), so
they hold one lock.
"""

from __future__ import annotations

import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from hive_runtime.storage.errors import DiskFullError, SnapshotCorruptError
from hive_runtime.storage.fileops import OsFileOps, makedirs_durably, write_file_atomically
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.record import crc32c

_MAGIC = b"HIVESNP1"
_LENGTH = struct.Struct("<I")
_NAME = re.compile(r"^snap-(\d{20})-(\d{20})\.snap$")


@dataclass(frozen=True)
class SnapshotMeta:
    """Where a snapshot sits in the log, and the cluster membership at that point."""

    index: int
    term: int
    membership: Any = None  # msgpack-able; the Raft core defines its shape


@dataclass(frozen=True)
class Snapshot:
    meta: SnapshotMeta
    data: bytes

    @property
    def checksum(self) -> int:
        return crc32c(self.data)


def snapshot_file_name(meta: SnapshotMeta) -> str:
    return f"snap-{meta.index:020d}-{meta.term:020d}.snap"


def encode_snapshot(snapshot: Snapshot) -> bytes:
    meta: bytes = msgpack.packb(
        {
            "index": snapshot.meta.index,
            "term": snapshot.meta.term,
            "membership": snapshot.meta.membership,
            "size": len(snapshot.data),
            "crc32c": snapshot.checksum,
        }
    )
    return _MAGIC + _LENGTH.pack(len(meta)) + meta + snapshot.data


def decode_snapshot(raw: bytes, *, path: Path) -> Snapshot:
    """Parse and verify a snapshot file; :class:`SnapshotCorruptError` on any mismatch."""
    header = len(_MAGIC) + _LENGTH.size
    if len(raw) < header or not raw.startswith(_MAGIC):
        raise SnapshotCorruptError(f"{path}: not a snapshot file")
    (meta_length,) = _LENGTH.unpack_from(raw, len(_MAGIC))
    if header + meta_length > len(raw):
        raise SnapshotCorruptError(f"{path}: truncated metadata")
    try:
        meta = msgpack.unpackb(raw[header : header + meta_length])
        index, term, size, checksum = meta["index"], meta["term"], meta["size"], meta["crc32c"]
    except (ValueError, TypeError, KeyError) as error:
        raise SnapshotCorruptError(f"{path}: unreadable metadata: {error}") from None
    data = raw[header + meta_length :]
    if len(data) != size:
        raise SnapshotCorruptError(f"{path}: {len(data)} data bytes, metadata says {size}")
    if crc32c(data) != checksum:
        raise SnapshotCorruptError(f"{path}: data checksum mismatch")
    return Snapshot(SnapshotMeta(index=index, term=term, membership=meta.get("membership")), data)


class SnapshotStore:
    """Snapshot files in one directory, newest last."""

    def __init__(
        self,
        directory: Path,
        *,
        keep: int = 2,
        file_ops: OsFileOps | None = None,
        metrics: StorageMetrics | None = None,
    ) -> None:
        self.directory = Path(directory)
        if keep < 1:
            raise ValueError("a snapshot store keeps at least one snapshot")
        self.keep = keep
        self._lock = threading.Lock()
        self._ops = file_ops if file_ops is not None else OsFileOps()
        self.metrics = metrics if metrics is not None else StorageMetrics()
        makedirs_durably(self._ops, self.directory)
        for name in self._ops.listdir(self.directory):
            if name.endswith(".snap.tmp"):  # a write that crashed before its rename
                self._ops.unlink(self.directory / name)

    def list(self) -> list[tuple[int, int, Path]]:
        """``(index, term, path)`` of every snapshot file, oldest first."""
        found = []
        for name in self._ops.listdir(self.directory):
            match = _NAME.match(name)
            if match:
                found.append((int(match.group(1)), int(match.group(2)), self.directory / name))
        return sorted(found)

    def save(self, snapshot: Snapshot) -> Path:
        """Write ``snapshot`` atomically, then delete all but the newest ``keep`` snapshots (only
        once the new file and its directory entry are durable)."""
        path = self.directory / snapshot_file_name(snapshot.meta)
        encoded = encode_snapshot(snapshot)
        with self._lock:
            started = time.perf_counter()
            try:
                write_file_atomically(self._ops, path, encoded)
            except DiskFullError:
                self.metrics.disk_full.inc()
                raise
            old = self.list()[: -self.keep]
            for _, _, stale in old:
                self._ops.unlink(stale)
            if old:
                self._ops.fsync_dir(self.directory)
            self.metrics.snapshot_save_seconds.observe(time.perf_counter() - started)
        return path

    def load(self, path: Path) -> Snapshot:
        snapshot = decode_snapshot(self._ops.read_bytes(path), path=path)
        match = _NAME.match(path.name)
        if match and (int(match.group(1)), int(match.group(2))) != (snapshot.meta.index, snapshot.meta.term):
            raise SnapshotCorruptError(f"{path}: file name does not match its metadata")
        return snapshot

    def latest(self) -> Snapshot | None:
        """The newest snapshot, verified; raises :class:`SnapshotCorruptError` if it is damaged."""
        found = self.list()
        return self.load(found[-1][2]) if found else None
