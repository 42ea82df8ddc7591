"""Power loss for real processes: three `hive runtime serve` replicas keep their data on lazyfs.

lazyfs (``testbed/lazyfs``) keeps every written byte in memory until the file is fsynced or
fdatasynced; a power cut drops what was never synced (a seeded prefix of each file's last unsynced
write survives, a torn write). The test acknowledges writes, SIGKILLs every replica, cuts the
power, remounts, restarts and reads every acknowledged write back.

Teeth: the same run with the replicas' syncs disabled from outside (a ``sitecustomize.py`` on the
node processes' ``PYTHONPATH`` that turns ``os.fsync`` and ``os.fdatasync`` into no-ops; nothing in
the product changes) must lose acknowledged writes, and
:func:`test_without_syncs_acknowledged_writes_are_lost` asserts that it does. SIGKILL alone cannot
tell the two apart: the page cache survives processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from hive_cli.local.cluster import LocalCluster
from hive_runtime.client import ClientError
from hive_testbed.lazyfs import LazyFs, LazyFsReport, unavailable_reason

WRITES = 40  # acknowledged sequentially, then at least as many more from writers in flight
IN_FLIGHT = 4
# The sitecustomize.py injected into the node processes for the teeth (never into the product):
# once the file FLAG exists, os.fsync and os.fdatasync do nothing. The test creates it after the
# cluster is up, so bootstrap files and segment headers are durable and only the writes are not.
NO_SYNC = """\
import os

FLAG = {flag!r}


def _unless_flagged(real):
    def sync(fd):
        if not os.path.exists(FLAG):
            real(fd)

    return sync


os.fsync = _unless_flagged(os.fsync)
os.fdatasync = _unless_flagged(os.fdatasync)
"""


@pytest.fixture(autouse=True)
def _lazyfs_available() -> None:
    reason = unavailable_reason()
    if reason is not None:  # a safety test that skips sees nothing: no FUSE or no binary fails
        pytest.fail(reason, pytrace=False)


@dataclass
class Outcome:
    acknowledged: dict[str, int]
    lost: dict[str, str]  # key -> what the restarted cluster answered (or node -> why it did not start)
    cut: LazyFsReport
    restarted: bool


async def _writer(cluster: LocalCluster, writer: int, acknowledged: dict[str, int]) -> None:
    """Put keys until cancelled or cut off; a key is recorded only once its put is acknowledged."""
    with contextlib.suppress(ClientError, OSError):
        async with cluster.client(deadline=5) as client:
            for i in itertools.count():
                await client.put(f"w{writer}-{i}", i)
                acknowledged[f"w{writer}-{i}"] = i


async def _power_loss_run(tmp_path: Path, *, syncs: bool, seed: int) -> Outcome:
    fs = LazyFs(backing=tmp_path / "backing", mountpoint=tmp_path / "mnt", seed=seed)
    fs.mount()
    cluster = LocalCluster(tmp_path / "c", replicas=3, digest_interval=10)
    try:
        for node in cluster.nodes.values():
            target = fs.mountpoint / f"node-{node.node_id}"
            target.mkdir()
            node.data_dir.symlink_to(target)  # only the data dirs live on lazyfs, not TLS or keys
        env: dict[str, str] = {}
        if not syncs:
            inject = tmp_path / "no-sync"
            inject.mkdir()
            (inject / "sitecustomize.py").write_text(NO_SYNC.format(flag=str(inject / "off")))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")]))
        for node_id in cluster.nodes:
            cluster.start(node_id, env=env)
        await cluster.wait_ready(within=60)
        if not syncs:
            (tmp_path / "no-sync" / "off").touch()  # from here on the replicas' syncs do nothing
        acknowledged: dict[str, int] = {}
        async with cluster.client(deadline=15) as client:
            for i in range(WRITES):
                await client.put(f"k{i}", i)
                acknowledged[f"k{i}"] = i
        # Then writers in flight when the power goes: appends written but not yet synced.
        async with asyncio.TaskGroup() as group:
            writers = [group.create_task(_writer(cluster, w, acknowledged)) for w in range(IN_FLIGHT)]
            while sum(key.startswith("w") for key in acknowledged) < WRITES:
                await asyncio.sleep(0.01)
            processes = [node.process for node in cluster.nodes.values() if node.process is not None]
            for process in processes:  # every replica at once, mid-write, as a power cut does
                process.send_signal(signal.SIGKILL)
            for process in processes:
                process.wait(timeout=30)
            for writer in writers:
                writer.cancel()
        cut = fs.power_cut()
        fs.mount()
        cluster.start_all()  # restarted with the product's real syncs in every case
        lost: dict[str, str] = {}
        try:
            await cluster.wait_ready(within=60 if syncs else 30)
        except TimeoutError:
            tails = {f"node {n}": cluster.log_tail(n, lines=3) for n in cluster.nodes}
            return Outcome(acknowledged, tails, cut, restarted=False)
        async with cluster.client(deadline=15) as client:
            for key, value in acknowledged.items():
                try:
                    answer: object = await client.get(key)
                except ClientError as error:
                    answer = f"error: {error}"
                if answer != value:
                    lost[key] = repr(answer)
        return Outcome(acknowledged, lost, cut, restarted=True)
    finally:
        cluster.stop_all(grace=2)
        if fs.mounted:
            fs.unmount()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_acknowledged_writes_survive_a_power_cut(tmp_path: Path, seed: int) -> None:
    outcome = await _power_loss_run(tmp_path, syncs=True, seed=seed)
    assert outcome.cut.event == "power-cut"
    assert outcome.restarted, outcome.lost
    assert len(outcome.acknowledged) >= 2 * WRITES
    assert outcome.lost == {}, f"acknowledged writes lost after a power cut: {outcome.lost}"
    print(f"\n{len(outcome.acknowledged)} acknowledged writes, all there after {outcome.cut}")


async def test_without_syncs_acknowledged_writes_are_lost(tmp_path: Path) -> None:
    """The teeth: a runtime whose syncs do nothing acknowledges writes that a power cut takes.

    The syncs stop only once the cluster is up (bootstrap files and segment headers are durable),
    so the replicas restart, on logs that end before the acknowledged writes.
    """
    outcome = await _power_loss_run(tmp_path, syncs=False, seed=11)
    assert outcome.cut.event == "power-cut"
    assert outcome.cut.files > 0, "the power cut found nothing unsynced: lazyfs saw the writes synced"
    assert outcome.lost, "no acknowledged write was lost although nothing was ever synced"
    assert outcome.restarted, f"the replicas did not restart: {outcome.lost}"
    assert set(outcome.lost) <= set(outcome.acknowledged)
    print(f"\nwithout syncs: {len(outcome.lost)} of {len(outcome.acknowledged)} lost; {outcome.cut}")
