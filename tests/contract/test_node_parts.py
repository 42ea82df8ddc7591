"""Pure and local parts behind the admin API: the digest window, transfer outcomes, forked
state capture, loop-lag measurement."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time

import pytest
from prometheus_client import CollectorRegistry

from hive_runtime.contract import TransferOutcome
from hive_runtime.node.digests import Capture, CaptureFailed, DigestLog, ForkedCapture
from hive_runtime.node.loop_lag import LoopLagMonitor
from hive_runtime.node.transfers import TransferTracker


def test_digest_log_answers_exact_at_least_and_latest_within_its_window() -> None:
    log = DigestLog(interval=10, window=3)
    assert [index for index in range(0, 35) if log.due(index)] == [10, 20, 30]
    for index in (10, 20, 25, 30):
        log.record(index, f"{index:064x}", "snapshot" if index == 25 else "interval")
    assert log.exact(10) is None, "the oldest fell out of the window"
    assert log.exact(25) is not None and log.exact(25).reason == "snapshot"  # type: ignore[union-attr]
    assert log.at_least(21).index == 25 and log.at_least(26).index == 30  # type: ignore[union-attr]
    assert log.at_least(31) is None and log.latest().index == 30  # type: ignore[union-attr]
    log.record(30, f"{30:064x}", "snapshot")
    assert log.exact(30).reason == "interval", "a snapshot at a multiple keeps the deterministic reason"  # type: ignore[union-attr]
    assert log.span() == (20, 30)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_transfer_outcomes_follow_what_the_node_observes() -> None:
    clock = Clock()
    tracker = TransferTracker(give_up_after=5.0, clock=clock)
    first = tracker.start(2)
    assert tracker.start(2) is first, "asking again for the same pending target is the same transfer"
    tracker.observe(is_leader=True, leader_id=1, transferee=2)
    assert tracker.current.outcome is TransferOutcome.PENDING  # type: ignore[union-attr]
    tracker.observe(is_leader=False, leader_id=None, transferee=None)  # stepped down, election on
    assert tracker.current.outcome is TransferOutcome.PENDING  # type: ignore[union-attr]
    clock.now += 0.2
    tracker.observe(is_leader=False, leader_id=2, transferee=None)
    done = await tracker.wait(first.id, within=0)
    assert done is not None and done.outcome is TransferOutcome.SUCCEEDED and done.new_leader == 2

    second = tracker.start(3)
    assert second.id == first.id + 1
    tracker.observe(is_leader=True, leader_id=1, transferee=None)  # the core dropped it
    assert tracker.current.outcome is TransferOutcome.TIMED_OUT  # type: ignore[union-attr]
    third = tracker.start(3)
    tracker.observe(is_leader=False, leader_id=2, transferee=None)
    assert tracker.current.outcome is TransferOutcome.FAILED and "node 2" in tracker.current.detail  # type: ignore[union-attr]
    fourth = tracker.start(2)
    tracker.observe(is_leader=False, leader_id=None, transferee=None)
    clock.now += 6
    tracker.observe(is_leader=False, leader_id=None, transferee=None)
    assert tracker.current.outcome is TransferOutcome.FAILED  # type: ignore[union-attr]
    assert third.id < fourth.id


async def test_waiting_for_a_transfer_returns_when_it_finishes() -> None:
    tracker = TransferTracker(give_up_after=5.0)
    record = tracker.start(2)
    waiter = asyncio.create_task(tracker.wait(record.id, within=5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    tracker.observe(is_leader=False, leader_id=2, transferee=None)
    async with asyncio.timeout(1):
        finished = await waiter
    assert finished is not None and finished.outcome is TransferOutcome.SUCCEEDED
    pending = tracker.start(3)
    still = await tracker.wait(pending.id, within=0.01)
    assert still is not None and still.outcome is TransferOutcome.PENDING


async def _capture(capture: ForkedCapture, index: int, *, keep_bytes: bool) -> Capture:
    future: asyncio.Future[Capture] = asyncio.get_running_loop().create_future()

    def done(result: Capture | None, error: BaseException | None) -> None:
        if result is not None:
            future.set_result(result)
        else:
            future.set_exception(error or RuntimeError())

    assert capture.start(index, keep_bytes=keep_bytes, done=done)
    async with asyncio.timeout(30):
        return await future


async def test_forked_capture_sees_the_state_as_of_the_fork_while_the_parent_changes_it() -> None:
    state = {"value": b"x" * 3_000_000}

    def serialise() -> bytes:
        time.sleep(0.2)  # the child is slow; the parent changes the state meanwhile
        return state["value"]

    capture = ForkedCapture(serialise)
    pending = asyncio.create_task(_capture(capture, 7, keep_bytes=True))
    await asyncio.sleep(0)  # the fork happened in start(), inside the task's first step
    state["value"] = b"y" * 10
    result = await pending
    assert result.index == 7 and result.data == b"x" * 3_000_000
    assert result.digest == hashlib.sha256(b"x" * 3_000_000).hexdigest()
    digest_only = await _capture(capture, 8, keep_bytes=False)
    assert digest_only.data is None and digest_only.digest == hashlib.sha256(b"y" * 10).hexdigest()
    assert capture.in_flight == 0


async def test_the_capture_child_holds_none_of_the_parents_sockets() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def slow() -> bytes:
        time.sleep(1.0)
        return b"state"

    capture = ForkedCapture(slow)
    pending = asyncio.create_task(_capture(capture, 1, keep_bytes=False))
    await asyncio.sleep(0.1)  # the child is running
    listener.close()
    rebound = socket.create_server(("127.0.0.1", port))  # EADDRINUSE if the child kept it open
    rebound.close()
    assert (await pending).digest == hashlib.sha256(b"state").hexdigest()


async def test_forked_capture_reports_a_failing_child_and_bounds_the_children() -> None:
    def broken() -> bytes:
        raise RuntimeError("serialisation failed")

    with pytest.raises(CaptureFailed):
        await _capture(ForkedCapture(broken), 1, keep_bytes=False)

    def slow() -> bytes:
        time.sleep(5)
        return b""

    capture = ForkedCapture(slow, max_children=1)
    assert capture.start(1, keep_bytes=False, done=lambda *_: None)
    assert not capture.start(2, keep_bytes=False, done=lambda *_: None), "one child at a time"
    pids = list(capture._children)
    capture.close()
    assert capture.in_flight == 0
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)  # noqa: ASYNC222 - non-blocking; killed and reaped


async def test_loop_lag_monitor_measures_a_stall() -> None:
    registry = CollectorRegistry()
    monitor = LoopLagMonitor(registry, interval=0.005)
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.05)
    time.sleep(0.12)  # noqa: ASYNC251 - the stall being measured
    await asyncio.sleep(0.02)
    task.cancel()
    worst = registry.get_sample_value("hive_event_loop_lag_max_seconds")
    count = registry.get_sample_value("hive_event_loop_lag_seconds_count")
    assert worst is not None and 0.1 <= worst < 1.0
    assert count is not None and count >= 5
    monitor.scraped()
    assert registry.get_sample_value("hive_event_loop_lag_max_seconds") == 0.0
