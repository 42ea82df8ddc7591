"""A disk that forgets what was not synced: power loss modelled at the storage layer's one seam.

Why: SIGKILL keeps the page cache, so a real-process test cannot see a missing ``fdatasync``.
This model can. :class:`PowerLossDisk` is an in-memory filesystem; each incarnation of a node
gets a :class:`PowerLossFileOps` (the production :class:`~hive_runtime.storage.OsFileOps`
interface) onto it. The rules, POSIX at its strictest:

- A file's bytes and length are durable once ``fdatasync``/``fsync`` of that file returns; a
  directory's entries (creations, renames, unlinks, subdirectories) once ``fsync_dir`` of that
  directory returns. Nothing else makes anything durable.
- :meth:`PowerLossDisk.crash` is a process kill: open descriptors die, the page cache survives.
- :meth:`PowerLossDisk.power_cut` loses what was not made durable, except that each file and
  each directory keeps a seeded prefix of its unsynced operations, in order, the last of them
  possibly torn (a write keeps an arbitrary prefix of its bytes): what a disk with a volatile
  cache and an ordered journal may leave behind.
- :meth:`PowerLossDisk.arm` makes the power go out *at* a later mutating operation (before it
  takes effect), so a process can die between any two of its file operations.

After a crash or a power cut every call through an older incarnation's ops raises
:class:`PowerCut` (a ``BaseException``: product code catching ``OSError`` or ``Exception`` must
not swallow the end of its process).
"""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from hive_runtime.storage import OsFileOps


class PowerCut(BaseException):
    """The process that made this call is dead (killed or its machine lost power)."""


@dataclass(frozen=True, slots=True)
class _Write:
    offset: int
    data: bytes


@dataclass(frozen=True, slots=True)
class _Truncate:
    size: int


@dataclass(eq=False)
class _File:
    data: bytearray = field(default_factory=bytearray)  # what reads see (page cache)
    durable: bytes = b""  # what a power cut keeps for sure
    pending: list[_Write | _Truncate] = field(default_factory=list)  # unsynced, in order

    def sync(self) -> None:
        self.durable = bytes(self.data)
        self.pending.clear()


@dataclass(eq=False)
class _Dir:
    entries: dict[str, _File | _Dir] = field(default_factory=dict)
    durable: dict[str, _File | _Dir] = field(default_factory=dict)
    pending: list[tuple[str, _File | _Dir | None]] = field(default_factory=list)  # (name, node or unlink)

    def link(self, name: str, node: _File | _Dir | None) -> None:
        if node is None:
            del self.entries[name]
        else:
            self.entries[name] = node
        self.pending.append((name, node))

    def sync(self) -> None:
        self.durable = dict(self.entries)
        self.pending.clear()


@dataclass
class DiskStats:
    crashes: int = 0
    power_cuts: int = 0
    torn_writes: int = 0  # writes kept in part by a power cut
    unsynced_operations_lost: int = 0


def _write_into(buffer: bytearray, offset: int, data: bytes) -> None:
    if offset > len(buffer):
        buffer.extend(bytes(offset - len(buffer)))
    buffer[offset : offset + len(data)] = data


def _truncate(buffer: bytearray, size: int) -> None:
    if size < len(buffer):
        del buffer[size:]
    else:
        buffer.extend(bytes(size - len(buffer)))


class PowerLossDisk:
    """One machine's disk; survives the processes (incarnations) that use it."""

    def __init__(self, *, rng: random.Random) -> None:
        self._rng = rng
        self.root = _Dir()
        self.incarnation = 0
        self.stats = DiskStats()
        self._fds: dict[int, tuple[_File, list[int]]] = {}  # fd -> (file, [position])
        self._next_fd = 3
        self._armed: int | None = None
        self.on_power_cut: Callable[[], None] | None = None  # told when an armed cut fires

    # -- the harness's side ----------------------------------------------------------------------
    def ops(self) -> PowerLossFileOps:
        """File operations for a new process on this disk (the previous one must be dead)."""
        return PowerLossFileOps(self, self.incarnation)

    def make_durable_dirs(self, path: Path) -> None:
        """Create ``path`` and make it durable at once (a volume that existed before the node)."""
        directory = self.root
        for part in PurePosixPath(path).parts[1:]:
            child = directory.entries.get(part)
            if child is None:
                child = _Dir()
                directory.entries[part] = child
            assert isinstance(child, _Dir)
            directory.sync()
            directory = child
        directory.sync()

    def arm(self, operations: int) -> None:
        """Cut the power at the ``operations``-th mutating file operation from now (1 = the next)."""
        self._armed = max(1, operations)

    @property
    def armed(self) -> bool:
        return self._armed is not None

    def crash(self) -> None:
        """Kill the process: descriptors close, unsynced data stays in the page cache."""
        self._end_incarnation()
        self.stats.crashes += 1

    def power_cut(self) -> None:
        """Lose power: keep what is durable plus a seeded, possibly torn, prefix of the rest."""
        self._end_incarnation()
        self.stats.power_cuts += 1
        images: dict[int, bytes] = {}
        self._cut_dir(self.root, images)

    def _end_incarnation(self) -> None:
        self.incarnation += 1
        self._fds.clear()
        self._armed = None

    def _cut_dir(self, directory: _Dir, images: dict[int, bytes]) -> None:
        entries = dict(directory.durable)
        keep = self._rng.randint(0, len(directory.pending))
        self.stats.unsynced_operations_lost += len(directory.pending) - keep
        for name, node in directory.pending[:keep]:
            if node is None:
                entries.pop(name, None)
            else:
                entries[name] = node
        directory.entries = entries
        directory.sync()
        for node in entries.values():
            if isinstance(node, _Dir):
                self._cut_dir(node, images)
            elif id(node) not in images:
                images[id(node)] = self._cut_file(node)

    def _cut_file(self, file: _File) -> bytes:
        image = bytearray(file.durable)
        keep = self._rng.randint(0, len(file.pending))
        self.stats.unsynced_operations_lost += len(file.pending) - keep
        for operation in file.pending[:keep]:
            if isinstance(operation, _Write):
                _write_into(image, operation.offset, operation.data)
            else:
                _truncate(image, operation.size)
        if keep < len(file.pending):
            torn = file.pending[keep]
            if isinstance(torn, _Write) and len(torn.data) > 1:
                cut = self._rng.randint(0, len(torn.data) - 1)
                if cut:
                    _write_into(image, torn.offset, torn.data[:cut])
                    self.stats.torn_writes += 1
        file.data = image
        file.sync()
        return bytes(image)

    # -- used by PowerLossFileOps ----------------------------------------------------------------
    def check(self, incarnation: int, *, mutates: bool) -> None:
        if incarnation != self.incarnation:
            raise PowerCut(f"process incarnation {incarnation} is dead")
        if mutates and self._armed is not None:
            self._armed -= 1
            if self._armed == 0:
                self.power_cut()
                if self.on_power_cut is not None:
                    self.on_power_cut()
                raise PowerCut("the power went out")

    def lookup(self, path: Path) -> tuple[_Dir, str, _File | _Dir | None]:
        parts = PurePosixPath(path).parts[1:]
        directory = self.root
        for part in parts[:-1]:
            child = directory.entries.get(part)
            if not isinstance(child, _Dir):
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
            directory = child
        name = parts[-1] if parts else ""
        return directory, name, directory.entries.get(name)

    def new_fd(self, file: _File) -> int:
        fd = self._next_fd
        self._next_fd += 1
        self._fds[fd] = (file, [0])
        return fd

    def fd(self, fd: int) -> tuple[_File, list[int]]:
        try:
            return self._fds[fd]
        except KeyError:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF)) from None

    def close_fd(self, fd: int) -> None:
        self.fd(fd)
        del self._fds[fd]


def _missing(path: Path) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))


class PowerLossFileOps(OsFileOps):
    """The storage layer's file operations, on a :class:`PowerLossDisk`, for one incarnation."""

    def __init__(self, disk: PowerLossDisk, incarnation: int) -> None:
        self.disk = disk
        self.incarnation = incarnation

    def _check(self, *, mutates: bool) -> None:
        self.disk.check(self.incarnation, mutates=mutates)

    def open(self, path: Path, flags: int, mode: int = 0o600) -> int:
        directory, name, node = self.disk.lookup(path)
        creates = bool(flags & os.O_CREAT) and node is None
        self._check(mutates=creates or bool(flags & os.O_TRUNC))
        if node is not None and flags & os.O_CREAT and flags & os.O_EXCL:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        if isinstance(node, _Dir):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if node is None:
            if not flags & os.O_CREAT:
                raise _missing(path)
            node = _File()
            directory.link(name, node)
        elif flags & os.O_TRUNC and node.data:
            node.data.clear()
            node.pending.append(_Truncate(0))
        return self.disk.new_fd(node)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        self._check(mutates=True)
        file, position = self.disk.fd(fd)
        written = self._pwrite(file, bytes(data), position[0])
        position[0] += written
        return written

    def pwrite(self, fd: int, data: bytes | memoryview, offset: int) -> int:
        self._check(mutates=True)
        file, _ = self.disk.fd(fd)
        return self._pwrite(file, bytes(data), offset)

    @staticmethod
    def _pwrite(file: _File, data: bytes, offset: int) -> int:
        _write_into(file.data, offset, data)
        file.pending.append(_Write(offset, data))
        return len(data)

    def pread(self, fd: int, size: int, offset: int) -> bytes:
        self._check(mutates=False)
        file, _ = self.disk.fd(fd)
        return bytes(file.data[offset : offset + size])

    def fdatasync(self, fd: int) -> None:
        self._check(mutates=True)
        self.disk.fd(fd)[0].sync()

    def fsync(self, fd: int) -> None:
        self.fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        self._check(mutates=True)
        file, _ = self.disk.fd(fd)
        _truncate(file.data, size)
        file.pending.append(_Truncate(size))

    def fstat_size(self, fd: int) -> int:
        self._check(mutates=False)
        return len(self.disk.fd(fd)[0].data)

    def close(self, fd: int) -> None:
        self._check(mutates=False)
        self.disk.close_fd(fd)

    def rename(self, source: Path, target: Path) -> None:
        self._check(mutates=True)
        source_dir, source_name, node = self.disk.lookup(source)
        target_dir, target_name, _ = self.disk.lookup(target)
        if node is None:
            raise _missing(source)
        source_dir.link(source_name, None)
        target_dir.link(target_name, node)

    def unlink(self, path: Path) -> None:
        self._check(mutates=True)
        directory, name, node = self.disk.lookup(path)
        if node is None:
            raise _missing(path)
        if isinstance(node, _Dir):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        directory.link(name, None)

    def read_bytes(self, path: Path) -> bytes:
        self._check(mutates=False)
        _, _, node = self.disk.lookup(path)
        if not isinstance(node, _File):
            raise _missing(path)
        return bytes(node.data)

    def listdir(self, path: Path) -> list[str]:
        self._check(mutates=False)
        _, _, node = self.disk.lookup(path)
        if not isinstance(node, _Dir):
            raise _missing(path)
        return list(node.entries)

    def makedirs(self, path: Path) -> None:
        directory = self.disk.root
        for part in PurePosixPath(path).parts[1:]:
            child = directory.entries.get(part)
            if child is None:
                self._check(mutates=True)
                child = _Dir()
                directory.link(part, child)
            if not isinstance(child, _Dir):
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
            directory = child

    def fsync_dir(self, path: Path) -> None:
        self._check(mutates=True)
        _, _, node = self.disk.lookup(path)
        if not isinstance(node, _Dir):
            raise _missing(path)
        node.sync()
