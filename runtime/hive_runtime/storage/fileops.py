"""The OS calls the storage layer makes, behind one object so faults can be injected at this seam.

Production uses :class:`OsFileOps` (thin wrappers over :mod:`os`). Tests subclass it to make a call
fail the way a real disk does (ENOSPC after N bytes, EIO on fsync) and check that the layers above
keep their promises. Nothing above this module calls :mod:`os` file functions directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from hive_runtime.storage.errors import DiskFullError, StorageFailedError


class OsFileOps:
    """Real file operations on the local filesystem."""

    def open(self, path: Path, flags: int, mode: int = 0o600) -> int:
        return os.open(path, flags, mode)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        return os.write(fd, data)

    def write_all(self, fd: int, data: bytes) -> None:
        """Write all of ``data``, looping over short writes (which the kernel may return)."""
        view = memoryview(data)
        while view:
            written = self.write(fd, view)
            view = view[written:]

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        """Write at ``offset`` without moving the file position (``fd`` must not be ``O_APPEND``)."""
        return os.pwrite(fd, data, offset)

    def pwrite_all(self, fd: int, data: bytes | memoryview, *, offset: int) -> None:
        """Write all of ``data`` at ``offset``, looping over short writes."""
        view = memoryview(data)
        while view:
            written = self.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        return os.pread(fd, size, offset)

    def fdatasync(self, fd: int) -> None:
        os.fdatasync(fd)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        os.ftruncate(fd, size)

    def fstat_size(self, fd: int) -> int:
        return os.fstat(fd).st_size

    def close(self, fd: int) -> None:
        os.close(fd)

    def rename(self, source: Path, target: Path) -> None:
        os.rename(source, target)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def read_bytes(self, path: Path) -> bytes:
        return path.read_bytes()

    def listdir(self, path: Path) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: Path) -> None:
        os.makedirs(path, exist_ok=True)

    def fsync_dir(self, path: Path) -> None:
        """Make renames, creations and deletions in directory ``path`` durable."""
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def makedirs_durably(ops: OsFileOps, path: Path) -> None:
    """Create ``path`` and its missing parents so that a power cut cannot take them away again.

    A new directory's entry lives in its parent, and it is durable only once the parent is
    fsynced (POSIX; ext4's ordered journal usually hides the difference, other filesystems and
    power cuts need not). So each parent that gained an entry here is fsynced, top down.
    """
    missing: list[Path] = []
    current = Path(path)
    while current != current.parent:
        try:
            ops.listdir(current)
            break
        except FileNotFoundError:
            missing.append(current)
            current = current.parent
    if not missing:
        return
    ops.makedirs(path)
    for created in reversed(missing):
        ops.fsync_dir(created.parent)


def write_file_atomically(ops: OsFileOps, path: Path, data: bytes) -> None:
    """See :func:`_write_file_atomically`; maps OS errors to storage errors.

    ENOSPC (the temporary file did not fit; the old file is intact) is :class:`DiskFullError`;
    any other failure is :class:`StorageFailedError` (an fsync error leaves the outcome unknown).
    """
    try:
        _write_file_atomically(ops, path, data)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise DiskFullError(f"disk full writing {path}: the previous version is intact") from error
        raise StorageFailedError(f"writing {path} failed: {error}") from error


def _write_file_atomically(ops: OsFileOps, path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file, never a mix.

    Write a temporary file in the same directory, fsync it, rename it over ``path``, fsync the
    directory. Partial temporary files left by a crash are removed by the next writer.
    """
    temporary = path.with_name(path.name + ".tmp")
    fd = ops.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        try:
            ops.write_all(fd, data)
            ops.fsync(fd)
        finally:
            ops.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            ops.unlink(temporary)
        raise
    ops.rename(temporary, path)
    ops.fsync_dir(path.parent)
