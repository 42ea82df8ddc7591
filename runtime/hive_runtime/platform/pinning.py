"""Pin the event-loop thread to one core of the cpuset and keep the other threads off it.

Policy (``mode``):
- ``"auto"``: pin only when the cpuset looks exclusive (a strict subset of the online CPUs, as the
  static CPU manager gives a Guaranteed pod) and has at least two cores, so the hot thread gets a
  core to itself and everything else (fsync workers, gc of other threads, TLS) the rest;
- ``"force"``: pin whenever there are at least two cores, even in a shared pool;
- ``"off"``: never pin.
On one core, or a shared pool in ``auto``, the process runs unpinned and the report says why.

Threads created later inherit the affinity of the thread that creates them, so a thread pool
started from a pinned loop thread must call :func:`keep_off_pinned_core` in its initializer;
:func:`thread_pool_off_pinned_core` builds one to install as the loop's default executor.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hive_runtime.platform.cpuset import CpuSet, format_cpu_list, read_cpuset

PinMode = Literal["auto", "force", "off"]


@dataclass(frozen=True)
class PinningReport:
    """What the node got, for ``/status`` and metrics."""

    cpuset: str  # kernel list format of the usable CPUs, e.g. "2-3"
    pinned_core: int | None
    pinned: bool
    reason: str
    other_threads_moved: int = 0


_pinned_core: int | None = None
_other_cores: frozenset[int] = frozenset()


def _other_thread_ids(current: int) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(Path("/proc/self/task")) if int(tid) != current]
    except OSError:
        return []


def move_other_threads_off(core: int, allowed: frozenset[int]) -> int:
    """Restrict every thread but the caller to ``allowed - {core}``; return how many were moved."""
    others = allowed - {core}
    moved = 0
    for tid in _other_thread_ids(threading.get_native_id()):
        try:
            os.sched_setaffinity(tid, others)
            moved += 1
        except OSError:  # the thread exited meanwhile
            continue
    return moved


def pin_current_thread(*, mode: PinMode = "auto", cpuset: CpuSet | None = None) -> PinningReport:
    """Apply the pinning policy to the calling thread (call it from the event-loop thread)."""
    global _pinned_core, _other_cores
    cpus = cpuset if cpuset is not None else read_cpuset()
    usable = cpus.usable
    listed = format_cpu_list(usable)
    if mode == "off":
        return PinningReport(listed, None, False, "pinning disabled by configuration")
    if len(usable) < 2:
        return PinningReport(listed, None, False, "single core: nothing to keep off the event-loop core")
    if mode == "auto" and cpus.is_whole_machine:
        return PinningReport(
            listed, None, False, "cpuset is every online CPU (shared pool, not exclusive cores)"
        )
    core = max(usable)  # the highest core: CPU 0 tends to take more interrupts
    os.sched_setaffinity(0, {core})
    moved = move_other_threads_off(core, usable)
    _pinned_core, _other_cores = core, usable - {core}
    return PinningReport(listed, core, True, f"event loop pinned to core {core}", other_threads_moved=moved)


def keep_off_pinned_core() -> None:
    """Thread initializer: run this thread on the non-pinned cores (no-op when nothing is pinned)."""
    if _pinned_core is not None and _other_cores:
        os.sched_setaffinity(0, _other_cores)


def thread_pool_off_pinned_core(max_workers: int | None = None) -> ThreadPoolExecutor:
    """A thread pool whose threads avoid the pinned core.

    Install it as the loop's default executor (``loop.set_default_executor(...)``) so
    ``asyncio.to_thread`` work, such as the WAL's fdatasync, runs beside the event loop rather than
    on its core (threads otherwise inherit the pinned loop thread's single-core affinity).
    """
    return ThreadPoolExecutor(
        max_workers=max_workers, thread_name_prefix="hive-worker", initializer=keep_off_pinned_core
    )


def unpin_current_thread(cpuset: CpuSet | None = None) -> None:
    """Give the calling thread the whole usable cpuset back (for tests and orderly shutdown)."""
    global _pinned_core, _other_cores
    cpus = cpuset if cpuset is not None else read_cpuset()
    os.sched_setaffinity(0, cpus.usable | ({_pinned_core} if _pinned_core is not None else set()))
    _pinned_core, _other_cores = None, frozenset()
