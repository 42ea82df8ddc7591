"""Raft's hard state (current term, vote, commit index) in one small file, replaced atomically.

Layout: magic ``b"HIVEHS01"`` | crc32c(body):u32le | body, with body = msgpack ``[term, vote, commit]``.
The file is rewritten with write-temp, fsync, rename, fsync-directory, so a crash leaves the old
or the new state; a file that fails its checksum is corruption, never silently reset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import msgpack

from hive_runtime.storage.errors import CorruptLogError, DiskFullError
from hive_runtime.storage.fileops import OsFileOps, makedirs_durably, write_file_atomically
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.record import crc32c

HARD_STATE_FILE = "hardstate"
_MAGIC = b"HIVEHS01"
_CRC = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class HardState:
    """What Raft must remember across restarts besides the log."""

    term: int = 0
    vote: int | None = None
    commit: int = 0


def encode_hard_state(state: HardState) -> bytes:
    body: bytes = msgpack.packb([state.term, state.vote, state.commit])
    return _MAGIC + _CRC.pack(crc32c(body)) + body


def decode_hard_state(raw: bytes, *, path: Path) -> HardState:
    header = len(_MAGIC) + _CRC.size
    if len(raw) < header or not raw.startswith(_MAGIC):
        raise CorruptLogError(f"{path}: not a hard-state file")
    body = raw[header:]
    if crc32c(body) != _CRC.unpack_from(raw, len(_MAGIC))[0]:
        raise CorruptLogError(f"{path}: hard-state checksum mismatch")
    try:
        term, vote, commit = msgpack.unpackb(body)
    except (ValueError, TypeError) as error:
        raise CorruptLogError(f"{path}: unreadable hard state: {error}") from None
    if (
        not isinstance(term, int)
        or not isinstance(commit, int)
        or not (vote is None or isinstance(vote, int))
    ):
        raise CorruptLogError(f"{path}: hard state has wrong field types")
    return HardState(term=term, vote=vote, commit=commit)


class HardStateFile:
    """Loads and atomically saves :class:`HardState` in ``directory``."""

    def __init__(
        self, directory: Path, *, file_ops: OsFileOps | None = None, metrics: StorageMetrics | None = None
    ) -> None:
        self.path = Path(directory) / HARD_STATE_FILE
        self._ops = file_ops if file_ops is not None else OsFileOps()
        self.metrics = metrics if metrics is not None else StorageMetrics()
        makedirs_durably(self._ops, self.path.parent)

    def load(self) -> HardState:
        """The saved state, or the zero state when none was ever saved."""
        try:
            data = self._ops.read_bytes(self.path)
        except FileNotFoundError:
            return HardState()
        return decode_hard_state(data, path=self.path)

    def save(self, state: HardState) -> None:
        """Durably replace the saved state (returns after the rename is fsynced).

        Raises :class:`DiskFullError` (counted; the old state is intact) or
        :class:`StorageFailedError`.
        """
        try:
            write_file_atomically(self._ops, self.path, encode_hard_state(state))
        except DiskFullError:
            self.metrics.disk_full.inc()
            raise
