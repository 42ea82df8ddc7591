"""Exclusive CPUs in the way of the kubelet's static CPU manager policy, for every node of the agent.

The virtual nodes share one machine, so one manager serves them all. A Guaranteed pod whose
containers request whole CPUs (requests equal to limits) gets that many cores of its own, taken
from the machine's affinity set minus a reserved first core; every other pod runs on the shared
pool, which shrinks when cores are handed out: the processes already running there are moved off
them (every thread), as the kubelet rewrites the cpusets of shared containers. Unlike the kubelet,
a pod that does not fit is not rejected: it runs on the shared pool, and the runtime reports the
cpuset it really got (a two-core development machine could otherwise run one replica only).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def render_cpuset(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"`` (the Linux cpuset list format)."""
    ranges: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def set_process_tree_affinity(pid: int, cpus: list[int]) -> None:
    """Move every thread of ``pid`` and of its descendants onto ``cpus``."""
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)
                with contextlib.suppress(OSError):
                    pending += [int(c) for c in (task / "children").read_text().split()]


class CpuManager:
    def __init__(self, cpus: list[int] | None = None, *, reserved: int = 1) -> None:
        self.cpus = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
        self.reserved = self.cpus[:reserved]
        self._exclusive: dict[str, list[int]] = {}
        self.shared_pids: Callable[[], list[int]] = list

    def shared(self) -> list[int]:
        taken = {cpu for cpus in self._exclusive.values() for cpu in cpus}
        return [cpu for cpu in self.cpus if cpu not in taken]

    def allocate(self, uid: str, count: int) -> tuple[list[int], bool]:
        """The CPUs of a new pod and whether they are its own."""
        if uid in self._exclusive:
            return self._exclusive[uid], True
        if count:
            free = [cpu for cpu in self.shared() if cpu not in self.reserved]
            if len(free) >= count:
                self._exclusive[uid] = free[:count]
                self._repin_shared()
                return self._exclusive[uid], True
        return self.shared(), False

    def release(self, uid: str) -> None:
        if self._exclusive.pop(uid, None) is not None:
            self._repin_shared()

    def _repin_shared(self) -> None:
        shared = self.shared()
        for pid in self.shared_pids():
            set_process_tree_affinity(pid, shared)
