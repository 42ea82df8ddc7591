"""Zero-filling WAL segment space ahead of the write position, off the event loop.

Why this module exists: :class:`~hive_runtime.storage.wal.WriteAheadLog` keeps durable zeros ahead
of its logical end so that ``sync`` need not commit a file-size change (see
:mod:`hive_runtime.storage.segment_writer`). Writing and fdatasync'ing a 4 MiB chunk of zeros
takes 1.7-10 ms; done inside ``append``, which runs on the node's event loop, that was a periodic
stall on the leader. Here the fill runs on one worker thread owned by the log, started while there
is still half a chunk of zeros left, so appends normally find the space ready. The WAL (with
:mod:`hive_runtime.storage.segment_writer`) keeps the rules about *when* to start, wait for, or
fall back from a fill; this module holds the mechanics: the zero-filling itself and the worker
that runs at most one fill at a time.

Thread rules: the worker never touches the log's fields itself; it reports through callbacks the
WAL gives it (``done``, run under the WAL's lock by the WAL, and ``on_failure``). Only the thread
that owns the log (the event loop) calls :meth:`BackgroundPreallocator.start`, :meth:`wait` and
:meth:`close`.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from hive_runtime.platform.pinning import keep_off_pinned_core
from hive_runtime.storage.fileops import OsFileOps
from hive_runtime.storage.metrics import StorageMetrics

ZEROS = bytes(1024 * 1024)  # written in pieces of this size when preallocating
SYNC_PIECE_BYTES = 256 * 1024  # a background fill fdatasyncs after each piece of this size


def zero_fill(ops: OsFileOps, fd: int, *, start: int, end: int) -> None:
    """Write zeros to ``fd`` over ``[start, end)`` (not durable until fdatasync)."""
    zeros = memoryview(ZEROS)
    position = start
    while position < end:
        piece = zeros[: min(len(zeros), end - position)]
        ops.pwrite_all(fd, piece, offset=position)
        position += len(piece)


def zero_fill_durably(ops: OsFileOps, fd: int, *, start: int, end: int) -> None:
    """Write zeros to ``fd`` over ``[start, end)`` and fdatasync after each piece of ``SYNC_PIECE_BYTES``.

    For worker threads. Synced piece by piece: a ``sync`` of the log that overlaps a fill of the
    same file (on the event loop) then flushes at most one piece of zeros, not the whole chunk,
    and a fill of another file never has more than one piece queued ahead of the log's writes.
    """
    for piece_start in range(start, end, SYNC_PIECE_BYTES):
        zero_fill(ops, fd, start=piece_start, end=min(piece_start + SYNC_PIECE_BYTES, end))
        ops.fdatasync(fd)


def preallocation_target(*, allocated: int, end: int, chunk: int, limit: int) -> int | None:
    """The file length to zero-fill to so a write ending at ``end`` lands in allocated blocks.

    Whole ``chunk``\\ s past ``allocated``, never past ``limit`` (``segment_bytes``). ``None`` when no
    extension is due: disabled (``chunk == 0``), the write already fits, or it would not fit even
    below ``limit`` (the last batch of a segment then simply grows the file).
    """
    if chunk == 0 or end <= allocated:
        return None
    chunks = -(-(end - allocated) // chunk)  # ceiling division
    target = min(allocated + chunks * chunk, limit)
    return target if target >= end else None


class BackgroundPreallocator:
    """Runs at most one zero-fill (+ fdatasync) of a WAL segment at a time, on a worker thread.

    The worker thread is created on the first fill and stopped by :meth:`close`.
    """

    def __init__(
        self, ops: OsFileOps, metrics: StorageMetrics, *, on_failure: Callable[[BaseException], None]
    ) -> None:
        self._ops = ops
        self._metrics = metrics
        self._on_failure = on_failure
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[None] | None = None
        # Set when a fill hit ENOSPC (and was cut back): no new background fill is started until
        # the owner clears it (a foreground fill succeeded, or the log was truncated or reset), so
        # a full disk is not hammered with a doomed fill after every append.
        self.disk_full = False

    @property
    def in_flight(self) -> bool:
        """True while a fill was started and has not been waited for (it may have finished)."""
        return self._in_flight is not None

    @property
    def running(self) -> bool:
        """True while a started fill has not finished yet."""
        return self._in_flight is not None and not self._in_flight.done()

    def start(self, fd: int, *, start: int, end: int, done: Callable[[], None]) -> None:
        """Zero-fill ``[start, end)`` of ``fd`` and fdatasync it on the worker, then call ``done``.

        The caller must not write at or past ``start`` until :meth:`wait` returns. On ENOSPC the
        file is cut back to ``start``, :attr:`disk_full` is set and ``done`` is not called; on any
        other error (or if cutting back fails) ``on_failure`` is called instead.
        """
        if self._in_flight is not None:
            raise RuntimeError("a preallocation is already in flight")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="hive-wal-preallocate", initializer=keep_off_pinned_core
            )
        self._in_flight = self._executor.submit(self._fill, fd, start, end, done)

    def wait(self) -> bool:
        """Return once no fill is in flight; True if this had to block for one still running."""
        future, self._in_flight = self._in_flight, None
        if future is None:
            return False
        blocked = not future.done()
        future.result()  # _fill reports its errors through callbacks; it does not raise
        return blocked

    def close(self) -> None:
        """Wait for the fill in flight, if any, and stop the worker thread."""
        self.wait()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _fill(self, fd: int, start: int, end: int, done: Callable[[], None]) -> None:
        try:
            started = time.perf_counter()
            try:
                zero_fill_durably(self._ops, fd, start=start, end=end)
            except OSError as error:
                # Nothing but these zeros lives at or past ``start`` (the log writes there only
                # after waiting for this fill), so cutting back to it loses nothing.
                self._ops.ftruncate(fd, start)
                if error.errno == errno.ENOSPC:
                    self.disk_full = True  # the append that needs the space reports DiskFullError
                    return
                raise
            done()
            self._metrics.preallocate_seconds.observe(time.perf_counter() - started)
        except Exception as error:  # anything else: the log is failed, as after a foreground error
            self._on_failure(error)
