"""Creating the next WAL segment file ahead of time, off the event loop.

Why this module exists: rotation used to create the next segment file and zero-fill its first
preallocation chunk inside ``append``, on the node's event loop (about 4.5 ms for a 4 MiB chunk,
once per segment). :class:`~hive_runtime.storage.wal.WriteAheadLog` now asks a
:class:`SegmentPreparer` for the next file once the active segment is half full; a worker thread
creates it under :data:`PREPARED_NAME` and zero-fills and fdatasyncs its first chunk, header area
included. Rotation then only writes the 16-byte header over those zeros, fdatasyncs it and renames
the file to its segment name.

Why this is crash-safe (:mod:`hive_runtime.storage.wal_segments` holds the rotation half of the
argument):

- :data:`PREPARED_NAME` is never a segment name (:func:`~hive_runtime.storage.segment.parse_segment_name`
  does not match it, and it does not end in ``.wal``), so recovery never reads it as part of the
  log; it deletes it. A half-written prepared file is therefore harmless, whatever it holds.
- The file holds no index: it is all zeros until rotation writes the header. So a prepared file
  stays usable for any later rotation (after a truncation or a reset too) and is only thrown away
  by :meth:`SegmentPreparer.close` and recovery.

Thread rules: the worker only creates, fills and syncs the prepared file and reports through its
future (and ``on_failure``); it never touches the log's fields. Only the thread that owns the log
calls :meth:`SegmentPreparer.start`, :meth:`take`, :meth:`discard` and :meth:`close`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hive_runtime.platform.pinning import keep_off_pinned_core
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.metrics import StorageMetrics
from hive_runtime.storage.preallocation import zero_fill_durably

# Hidden (sorts before the 20-digit segment names) and never parsed as a segment name.
PREPARED_NAME = ".prepared-segment.tmp"


def is_prepared_name(name: str) -> bool:
    """True for the name of a prepared (not yet rotated-in) segment file."""
    return name == PREPARED_NAME


@dataclass(frozen=True, slots=True)
class PreparedSegment:
    """An open, durable file of ``length`` zero bytes at the preparer's path, owned by whoever took it."""

    fd: int
    length: int


class SegmentPreparer:
    """Prepares at most one next-segment file at a time, on a worker thread.

    The worker thread is created on the first preparation and stopped by :meth:`close`.
    """

    def __init__(
        self,
        ops: OsFileOps,
        metrics: StorageMetrics,
        directory: Path,
        *,
        on_failure: Callable[[BaseException], None],
    ) -> None:
        self._ops = ops
        self._metrics = metrics
        self.path = directory / PREPARED_NAME
        self._on_failure = on_failure
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future[PreparedSegment | None] | None = None
        # Set when a preparation hit ENOSPC (its file was removed): none is started again until
        # the owner clears it (a foreground fill succeeded, or the log was truncated or reset).
        self.disk_full = False

    @property
    def pending(self) -> bool:
        """True from :meth:`start` until :meth:`take` or :meth:`discard` (running or finished)."""
        return self._pending is not None

    @property
    def ready(self) -> bool:
        """True when a preparation finished and :meth:`take` would not block."""
        return self._pending is not None and self._pending.done()

    def start(self, *, length: int) -> None:
        """Create the prepared file and make ``length`` zero bytes of it durable, on the worker.

        On ENOSPC the file is removed, :attr:`disk_full` is set and :meth:`take` returns ``None``;
        on any other error (or if removing the file fails) ``on_failure`` is called as well.
        """
        if self._pending is not None:
            raise RuntimeError("a segment preparation is already pending")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="hive-wal-prepare", initializer=keep_off_pinned_core
            )
        self._pending = self._executor.submit(self._prepare, length)

    def take(self) -> tuple[PreparedSegment | None, bool]:
        """The prepared file (the caller now owns its fd and must rename or discard it), if any.

        Waits for a preparation still running; the second value says whether it had to. ``None``
        when nothing was started or the preparation failed.
        """
        future, self._pending = self._pending, None
        if future is None:
            return None, False
        blocked = not future.done()
        return future.result(), blocked  # _prepare reports errors through on_failure, it does not raise

    def discard(self, prepared: PreparedSegment | None = None) -> None:
        """Close and delete ``prepared`` (or the pending preparation, waiting for it); errors are ignored.

        Leaving the file behind is harmless (recovery deletes it), so a failure here is not worth
        failing the log for.
        """
        if prepared is None:
            prepared, _ = self.take()
        if prepared is None:
            return
        with contextlib.suppress(OSError):
            self._ops.close(prepared.fd)
        with contextlib.suppress(OSError):
            self._ops.unlink(self.path)

    def close(self) -> None:
        """Wait for the preparation in flight, delete its file and stop the worker thread."""
        self.discard()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _prepare(self, length: int) -> PreparedSegment | None:
        started = time.perf_counter()
        try:
            fd = -1
            try:
                # O_TRUNC, not O_EXCL: a file left here by a discard that could not unlink it holds
                # nothing of value (no index, never renamed), so it is simply reused.
                fd = self._ops.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                zero_fill_durably(self._ops, fd, start=0, end=length)
            except OSError as error:
                if fd >= 0:
                    self._ops.close(fd)
                    self._ops.unlink(self.path)
                if error.errno == errno.ENOSPC:
                    self.disk_full = True  # the rotation then creates the segment itself and reports it
                    return None
                raise
        except Exception as error:  # anything else fails the log, as a foreground error would
            self._on_failure(error)
            return None
        self._metrics.preallocate_seconds.observe(time.perf_counter() - started)
        return PreparedSegment(fd=fd, length=length)
