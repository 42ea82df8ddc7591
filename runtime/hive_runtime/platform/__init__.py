"""Host platform controls of a runtime node: cpuset discovery, CPU pinning, GC tuning."""

from hive_runtime.platform.cpuset import CpuSet, format_cpu_list, parse_cpu_list, read_cpuset
from hive_runtime.platform.gc_tuning import GcReport, freeze_after_warmup
from hive_runtime.platform.pinning import (
    PinMode,
    PinningReport,
    keep_off_pinned_core,
    move_other_threads_off,
    pin_current_thread,
    thread_pool_off_pinned_core,
    unpin_current_thread,
)

__all__ = [
    "CpuSet",
    "GcReport",
    "PinMode",
    "PinningReport",
    "format_cpu_list",
    "freeze_after_warmup",
    "keep_off_pinned_core",
    "move_other_threads_off",
    "parse_cpu_list",
    "pin_current_thread",
    "read_cpuset",
    "thread_pool_off_pinned_core",
    "unpin_current_thread",
]
