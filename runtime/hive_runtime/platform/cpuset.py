"""Which CPUs this process may run on: the scheduler affinity and the cgroup cpuset.

With the kubelet's static CPU manager a Guaranteed pod with whole CPUs gets an exclusive cpuset;
in the shared pool it gets every CPU not handed out exclusively. Reading both the affinity mask
and the cgroup file (v2 ``cpuset.cpus.effective``, v1 ``cpuset.effective_cpus``) lets the node say
what it got.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_CPUSET_FILES = (
    Path("/sys/fs/cgroup/cpuset.cpus.effective"),  # cgroup v2
    Path("/sys/fs/cgroup/cpuset/cpuset.effective_cpus"),  # cgroup v1
)
ONLINE_CPUS_FILE = Path("/sys/devices/system/cpu/online")


def parse_cpu_list(text: str) -> frozenset[int]:
    """Parse the kernel's list format, e.g. ``"0-3,8,10-11"``; empty text is the empty set."""
    cpus: set[int] = set()
    for raw_part in text.strip().split(","):
        part = raw_part.strip()
        if not part:
            continue
        if "-" in part:
            low, high = part.split("-", 1)
            if int(low) > int(high):
                raise ValueError(f"bad CPU range {part!r}")
            cpus.update(range(int(low), int(high) + 1))
        else:
            cpus.add(int(part))
    return frozenset(cpus)


def format_cpu_list(cpus: frozenset[int] | set[int]) -> str:
    """The inverse of :func:`parse_cpu_list` with ranges collapsed."""
    ordered = sorted(cpus)
    parts: list[str] = []
    start = previous = None
    for cpu in [*ordered, None]:
        if cpu is not None and previous is not None and cpu == previous + 1:
            previous = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = cpu
    return ",".join(parts)


@dataclass(frozen=True)
class CpuSet:
    """The CPUs available to this process, and where that came from."""

    affinity: frozenset[int]  # os.sched_getaffinity(0)
    cgroup: frozenset[int] | None  # effective cpuset of our cgroup, when readable
    online: frozenset[int] | None  # every online CPU of the machine, when readable

    @property
    def usable(self) -> frozenset[int]:
        return self.affinity & self.cgroup if self.cgroup else self.affinity

    @property
    def is_whole_machine(self) -> bool:
        """True when we may run on every online CPU: a shared pool, not an exclusive allocation."""
        return self.online is not None and self.usable == self.online


def _read_cpu_file(path: Path) -> frozenset[int] | None:
    try:
        return parse_cpu_list(path.read_text())
    except (OSError, ValueError):
        return None


def read_cpuset(
    *, cgroup_files: tuple[Path, ...] = CGROUP_CPUSET_FILES, online_file: Path = ONLINE_CPUS_FILE
) -> CpuSet:
    cgroup = None
    for path in cgroup_files:
        cgroup = _read_cpu_file(path)
        if cgroup:
            break
    return CpuSet(
        affinity=frozenset(os.sched_getaffinity(0)), cgroup=cgroup, online=_read_cpu_file(online_file)
    )
