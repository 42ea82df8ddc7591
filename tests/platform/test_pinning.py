"""Pinning in a real child process: the loop thread gets one core, other threads the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from hive_runtime.platform import CpuSet, freeze_after_warmup, pin_current_thread

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    from hive_runtime.platform import pin_current_thread, keep_off_pinned_core, thread_pool_off_pinned_core

    started = threading.Event()
    stop = threading.Event()
    def background():
        started.set()
        stop.wait()
    thread = threading.Thread(target=background)
    thread.start()
    started.wait()
    report = pin_current_thread(mode=sys.argv[1])
    pool = ThreadPoolExecutor(1, initializer=keep_off_pinned_core)
    pool_affinity = pool.submit(lambda: sorted(os.sched_getaffinity(0))).result()

    async def in_loop():
        asyncio.get_running_loop().set_default_executor(thread_pool_off_pinned_core())
        return await asyncio.to_thread(lambda: sorted(os.sched_getaffinity(0)))
    to_thread_affinity = asyncio.run(in_loop())
    print(json.dumps({
        "report": report.__dict__,
        "main": sorted(os.sched_getaffinity(0)),
        "background": sorted(os.sched_getaffinity(thread.native_id)),
        "pool": pool_affinity,
        "to_thread": to_thread_affinity,
    }))
    stop.set()
    pool.shutdown()
    """
)


def _run_child(mode: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, timeout=30
    )
    parsed: dict[str, object] = json.loads(result.stdout)
    return parsed


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs in the affinity mask")
def test_force_pins_loop_thread_and_moves_others_off() -> None:
    outcome = _run_child("force")
    report = outcome["report"]
    assert isinstance(report, dict)
    core = report["pinned_core"]
    assert report["pinned"] is True
    assert outcome["main"] == [core]
    assert core not in outcome["background"]  # type: ignore[operator]
    assert core not in outcome["pool"]  # type: ignore[operator]
    assert core not in outcome["to_thread"]  # type: ignore[operator]
    assert report["other_threads_moved"] >= 1


def test_off_mode_reports_unpinned() -> None:
    outcome = _run_child("off")
    report = outcome["report"]
    assert isinstance(report, dict)
    assert report["pinned"] is False
    assert outcome["main"] == sorted(os.sched_getaffinity(0))


def test_single_core_is_reported_unpinned() -> None:
    core = min(os.sched_getaffinity(0))
    report = pin_current_thread(mode="force", cpuset=CpuSet(frozenset({core}), None, None))
    assert (report.pinned, report.pinned_core, report.cpuset) == (False, None, str(core))
    assert "single core" in report.reason


def test_shared_pool_is_reported_unpinned_in_auto_mode() -> None:
    cpus = frozenset({0, 1, 2, 3})
    report = pin_current_thread(mode="auto", cpuset=CpuSet(cpus, cpus, cpus))
    assert not report.pinned
    assert "shared pool" in report.reason
    assert report.cpuset == "0-3"


def test_freeze_after_warmup_moves_objects_to_the_permanent_generation() -> None:
    import gc

    before = gc.get_threshold()
    try:
        report = freeze_after_warmup(gen0_threshold=12345)
        assert report.frozen_objects > 1000
        assert report.thresholds[0] == 12345
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
