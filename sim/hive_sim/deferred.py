"""The WAL's worker threads, made deterministic: their work runs when the simulation says so.

Why: the WAL zero-fills preallocation chunks and prepares the next segment on worker threads
(:mod:`hive_runtime.storage.preallocation`, :mod:`hive_runtime.storage.segment_preparation`), and
the node writes its snapshot files on one (:mod:`hive_runtime.storage.snapshot_writer`).
On a power-loss disk a worker's ``fdatasync`` also makes the main thread's records durable, so
*when* it runs changes what a power cut keeps, and real threads would make a seed unrepeatable.
:func:`deferred_storage_workers` replaces the ``ThreadPoolExecutor`` those two modules create
with :class:`DeferredExecutor`: a submitted job waits in its disk's queue until the simulation
runs it (:func:`run_background`, at seeded times) or the log blocks on its result (the log
waiting for its worker), which is one of the interleavings real threads allow. The product
code is unchanged; only the executor class it looks up is swapped, from the test side.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from hive_runtime.storage import preallocation, segment_preparation, snapshot_writer
from hive_sim.powerloss import PowerCut, PowerLossDisk, PowerLossFileOps

_EXECUTOR = "ThreadPoolExecutor"  # the name the worker modules look up when they start a worker
_queues: dict[int, list[DeferredFuture]] = {}  # id(disk) -> jobs not yet run, in submission order


class DeferredFuture(Future[Any]):
    """A job that runs when :meth:`run` is called, or when someone waits for its result."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._started = False
        self.incarnation = -1  # of the process whose worker this job belongs to

    def run(self) -> None:
        if self._started:
            return
        self._started = True
        self.set_running_or_notify_cancel()
        try:
            result = self._fn(*self._args)
        except BaseException as error:
            self.set_exception(error)
            if isinstance(error, PowerCut):
                raise
            return
        self.set_result(result)

    def result(self, timeout: float | None = None) -> Any:
        self.run()
        return super().result(timeout)


def _owner(fn: Callable[..., Any]) -> PowerLossFileOps | None:
    ops = getattr(getattr(fn, "__self__", None), "_ops", None)
    return ops if isinstance(ops, PowerLossFileOps) else None


class DeferredExecutor:
    """Stands in for ``ThreadPoolExecutor(max_workers=1)`` in the storage's worker modules."""

    def __init__(
        self,
        max_workers: int = 1,
        thread_name_prefix: str = "",
        initializer: Callable[[], object] | None = None,
    ) -> None:
        self._jobs: list[DeferredFuture] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> DeferredFuture:
        job = DeferredFuture(fn, args)
        ops = _owner(fn)
        if ops is None:
            job.run()  # not on a simulated disk: run at once, as a worker that is never late
        else:
            job.incarnation = ops.incarnation
            _queues.setdefault(id(ops.disk), []).append(job)
        self._jobs.append(job)
        return job

    def shutdown(self, wait: bool = True) -> None:
        for job in self._jobs:
            job.run()
        self._jobs.clear()


def run_background(disk: PowerLossDisk, *, jobs: int = 1) -> int:
    """Run up to ``jobs`` queued jobs of ``disk``'s process, oldest first; returns how many ran.

    A :class:`PowerCut` out of a job (an armed cut fired) propagates to the caller.
    """
    queue = _queues.get(id(disk), [])
    ran = 0
    while queue and ran < jobs:
        job = queue.pop(0)
        if job.incarnation != disk.incarnation:
            continue  # its process is dead, and its threads with it
        ran += 1
        job.run()
    return ran


def drop_background(disk: PowerLossDisk) -> None:
    """Forget the queued jobs of ``disk``'s dead process (its threads died with it)."""
    _queues.pop(id(disk), None)


@contextlib.contextmanager
def deferred_storage_workers() -> Iterator[None]:
    """Make the storage's worker modules use :class:`DeferredExecutor` while the block runs."""
    modules = (preallocation, segment_preparation, snapshot_writer)
    saved = [getattr(module, _EXECUTOR) for module in modules]
    for module in modules:
        setattr(module, _EXECUTOR, DeferredExecutor)
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            setattr(module, _EXECUTOR, original)
        _queues.clear()
