"""Exclusive CPU allocation in the style of the kubelet's static CPU manager policy.

A Guaranteed pod whose containers request whole CPUs (requests equal to limits) gets that many
cores of its own, taken from the machine's affinity set minus a reserved first core; every other
pod shares what is left. Unlike the kubelet, a pod that does not fit is not rejected: it runs on the
shared pool and its annotations say it is not exclusive (a two-core development machine could
otherwise run only one Guaranteed replica).
"""

from __future__ import annotations

import os
from typing import Any

CPUSET_ANNOTATION = "testbed.hive.dev/cpuset"
EXCLUSIVE_ANNOTATION = "testbed.hive.dev/cpu-exclusive"


def _cpu_quantity(value: Any) -> float:
    text = str(value)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def whole_cpus(pod: dict[str, Any]) -> int:
    """CPUs a pod may hold exclusively: Guaranteed QoS with integral requests, else 0."""
    total = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in ("cpu", "memory"):
            if name not in limits or str(requests.get(name, limits[name])) != str(limits[name]):
                return 0
        total += _cpu_quantity(limits["cpu"])
    return int(total) if total and total == int(total) else 0


def render_cpuset(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"`` (the Linux cpuset list format)."""
    parts: list[str] = []
    for cpu in sorted(cpus):
        if parts and "-" not in parts[-1].split(",")[-1] and int(parts[-1]) == cpu - 1:
            parts[-1] = f"{parts[-1]}-{cpu}"
        elif parts and "-" in parts[-1] and int(parts[-1].split("-")[1]) == cpu - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{cpu}"
        else:
            parts.append(str(cpu))
    return ",".join(parts)


class CpuAllocator:
    def __init__(self, cpus: list[int] | None = None, *, reserved: int = 1) -> None:
        self.cpus = sorted(cpus if cpus is not None else os.sched_getaffinity(0))
        self.reserved = self.cpus[:reserved]
        self._exclusive: dict[str, list[int]] = {}

    def shared(self) -> list[int]:
        taken = {cpu for cpus in self._exclusive.values() for cpu in cpus}
        return [cpu for cpu in self.cpus if cpu not in taken]

    def allocate(self, uid: str, count: int) -> tuple[list[int], bool]:
        if uid in self._exclusive:
            return self._exclusive[uid], True
        if count:
            free = [cpu for cpu in self.shared() if cpu not in self.reserved]
            if len(free) >= count:
                self._exclusive[uid] = free[:count]
                return self._exclusive[uid], True
        return self.shared(), False

    def release(self, uid: str) -> None:
        self._exclusive.pop(uid, None)
