"""Group commit (the floor benchmark's, ``hive_cli.bench._group_commit``): concurrent asyncio
writers share fdatasync calls and only return once durable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hive_cli.bench._group_commit import GroupCommitter
from hive_runtime.storage import LogEntry, StorageFailedError, StorageMetrics, WriteAheadLog

Factory = Callable[..., list[LogEntry]]


async def _run_writers(wal: WriteAheadLog, writers: int, per_writer: int) -> tuple[GroupCommitter, list[int]]:
    committer = GroupCommitter(wal)
    next_index = [1]
    durable: list[int] = []

    async def writer() -> None:
        for _ in range(per_writer):
            index = next_index[0]
            next_index[0] += 1
            result = await committer.append([LogEntry(index=index, term=1, data=b"x" * 100)])
            assert result >= index
            assert wal.synced_index >= index
            durable.append(index)

    async with asyncio.TaskGroup() as group:
        flusher = group.create_task(committer.run())
        async with asyncio.TaskGroup() as writers_group:
            for _ in range(writers):
                writers_group.create_task(writer())
        flusher.cancel()
    return committer, durable


def test_many_writers_share_syncs(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    wal = WriteAheadLog(tmp_path, metrics=StorageMetrics(registry))
    committer, durable = asyncio.run(_run_writers(wal, writers=64, per_writer=20))
    assert sorted(durable) == list(range(1, 1281))
    assert committer.syncs < 1280 / 4  # batching happened
    assert registry.get_sample_value("hive_wal_sync_batch_entries_sum") == 1280
    assert registry.get_sample_value("hive_wal_sync_batch_entries_count") == committer.syncs
    wal.close()
    assert WriteAheadLog(tmp_path).last_index() == 1280


def test_syncs_in_a_thread_while_segments_rotate(tmp_path: Path) -> None:
    """fdatasync runs in a worker thread while the loop keeps appending and rotating segments."""
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    _, durable = asyncio.run(_run_writers(wal, writers=32, per_writer=40))
    assert sorted(durable) == list(range(1, 1281))
    wal.close()
    segments = sorted(tmp_path.glob("*.wal"))
    assert len(segments) > 10
    reopened = WriteAheadLog(tmp_path, segment_bytes=4096)
    assert reopened.last_index() == 1280
    assert reopened.recovery.torn_bytes_truncated == 0


def test_sync_failure_fails_every_waiter(
    tmp_path: Path, make_entries: Factory, failing_sync_ops: type
) -> None:
    ops = failing_sync_ops()
    wal = WriteAheadLog(tmp_path, file_ops=ops)
    wal.append(
        make_entries(1, 1)
    )  # preallocates (and fdatasyncs) now, so the next fdatasync is the flusher's
    committer = GroupCommitter(wal)
    ops.fail_sync = True

    async def scenario() -> None:
        flusher = asyncio.create_task(committer.run())
        waiters = [asyncio.create_task(committer.append([entry])) for entry in make_entries(2, 5)]
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(result, StorageFailedError) for result in results)
        with pytest.raises(StorageFailedError):
            await flusher
        with pytest.raises(StorageFailedError):
            await committer.wait_durable(1)

    asyncio.run(scenario())
