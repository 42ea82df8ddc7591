"""Three real replicas on loopback (mutual TLS, fsync) under crashes: nothing acknowledged is lost.

Register histories recorded by concurrent clients are checked with the linearizability checker,
the same one the simulator uses; an operation whose outcome the client never learned is
recorded as such and may linearize anywhere after its invocation, or not at all.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import Callable

import aiohttp
from hive_sim.linearizability import CheckOutcome, Operation, OpKind, check_history

from hive_cli.local.cluster import LocalCluster
from hive_runtime.client import ClientError, OutcomeUnknownError
from hive_runtime.storage.record import DecodedRecord, LogEntry, decode_record, encode_record
from hive_runtime.storage.segment import scan_segment

KEYS = ("a", "b", "c")


async def _register_client(
    cluster: LocalCluster, client_id: int, history: list[Operation], stop: asyncio.Event, counter: list[int]
) -> None:
    rng = random.Random(client_id)
    async with cluster.client(deadline=15) as client:
        while not stop.is_set():
            key = rng.choice(KEYS)
            roll = rng.random()
            invoked = time.monotonic_ns()
            try:
                if roll < 0.45:
                    counter[0] += 1
                    value = counter[0]
                    await client.put(key, value)
                    history.append(
                        Operation(client_id, key, OpKind.PUT, invoked, time.monotonic_ns(), value=value)
                    )
                elif roll < 0.8:
                    output = await client.get(key)
                    history.append(
                        Operation(client_id, key, OpKind.GET, invoked, time.monotonic_ns(), output=output)
                    )
                else:
                    counter[0] += 1
                    value = counter[0]
                    expected = rng.choice([None, *range(max(1, value - 5), value)])
                    ok, _ = await client.cas(key, expected=expected, value=value)
                    history.append(
                        Operation(
                            client_id,
                            key,
                            OpKind.CAS,
                            invoked,
                            time.monotonic_ns(),
                            value=value,
                            expected=expected,
                            output=ok,
                        )
                    )
            except OutcomeUnknownError:
                # The write may or may not have taken effect: recorded as never returning, with
                # exactly what was asked (a CAS keeps its expected value).
                if roll < 0.45:
                    history.append(Operation(client_id, key, OpKind.PUT, invoked, None, value=value))
                else:
                    history.append(
                        Operation(client_id, key, OpKind.CAS, invoked, None, value=value, expected=expected)
                    )
            except ClientError:
                continue


async def test_leader_sigkill_under_load_keeps_every_acknowledged_write(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    history: list[Operation] = []
    stop = asyncio.Event()
    counter = [0]
    clients = [asyncio.create_task(_register_client(cluster, i, history, stop, counter)) for i in range(4)]
    await asyncio.sleep(1.0)
    before_kill = len(history)
    cluster.kill(leader, sig=signal.SIGKILL)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*clients)
    after_kill = len(history) - before_kill
    assert before_kill > 50 and after_kill > 50, (before_kill, after_kill)
    new_leader = await cluster.wait_ready(within=30)
    assert new_leader != leader
    result = check_history(history, time_limit_s=60)
    assert result.outcome is CheckOutcome.LINEARIZABLE, result


async def _digests_when_converged(cluster: LocalCluster) -> set[str]:
    try:
        _, digests = await cluster.agreed_digests(within=30)
    except TimeoutError:
        raise AssertionError(f"replicas did not converge: {await cluster.statuses()}") from None
    return set(digests.values())


async def test_follower_down_through_compaction_catches_up_by_snapshot(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(snapshot_every=40)
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    follower = next(node for node in cluster.nodes if node != leader)
    cluster.kill(follower)
    async with cluster.client() as client:
        for value in range(250):
            await client.put(f"k{value % 5}", value)
    code, status = await cluster.admin(leader, "GET", "/status")
    assert code == 200 and status["snapshotIndex"] >= 200
    cluster.start(follower)
    await cluster.wait_ready(within=60)
    async with cluster.client() as client:  # past the next digest point, after every snapshot
        for value in range(12):
            await client.put("after", value)
    assert len(await _digests_when_converged(cluster)) == 1
    code, rejoined = await cluster.admin(follower, "GET", "/status")
    assert rejoined["snapshotIndex"] >= 200, "the follower should have installed the leader's snapshot"


async def test_whole_cluster_restart_comes_back_to_the_same_digest(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster()
    cluster.start_all()
    await cluster.wait_ready(within=60)
    async with cluster.client() as client:
        for value in range(60):
            await client.put("k", value)
    before = await _digests_when_converged(cluster)
    for node in cluster.nodes:
        cluster.kill(node, sig=signal.SIGKILL)
    cluster.start_all()
    await cluster.wait_ready(within=60)
    async with cluster.client() as client:
        assert await client.get("k") == 59
    statuses = await cluster.statuses()
    assert len({status["appliedIndex"] for status in statuses.values()}) >= 1
    assert len(before) == 1
    assert len(await _digests_when_converged(cluster)) == 1


async def test_torn_wal_tail_is_truncated_and_the_node_rejoins(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    """A crash tore the next record in half: its first half lies in the preallocated zeros right
    after the last record. Recovery cuts exactly there, counts only the half record in
    ``hive_wal_torn_tail_bytes`` (not the zeros around it), and the node rejoins."""
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    async with cluster.client() as client:
        for value in range(30):
            await client.put("k", value)
    follower = next(node for node in cluster.nodes if node != leader)
    cluster.kill(follower, sig=signal.SIGKILL)
    segments = sorted((cluster.nodes[follower].data_dir / "raft" / "wal").glob("*.wal"))
    assert segments, "the follower has WAL segments"
    segment = segments[-1]
    raw = segment.read_bytes()
    scan = scan_segment(raw, path=segment, expected_first_index=None, is_last=True)
    cut = scan.valid_end  # the record boundary after the last record
    assert scan.torn_bytes == 0 and scan.entries
    assert len(raw) - cut >= 4096 and raw[cut:] == bytes(len(raw) - cut), "preallocated zeros follow"
    next_index = scan.entries[-1].index + 1
    term = scan.entries[-1].term
    torn = encode_record(LogEntry(index=next_index, term=term, data=b"\x00" + os.urandom(200)))
    half = torn[: len(torn) // 2]
    with open(segment, "r+b") as handle:  # noqa: ASYNC230 - the node is down; nothing to wait for
        handle.seek(cut)
        handle.write(half)  # over the zeros, at the boundary: the file keeps its preallocated length
    assert segment.stat().st_size == len(raw)
    cluster.start(follower)
    await cluster.wait_ready(within=60)
    metrics = await _metrics_text(cluster, follower)
    # The half record up to its last non-zero byte; the preallocated zeros after it do not count.
    assert _sample(metrics, "hive_wal_torn_tail_bytes_total") == len(half.rstrip(b"\0"))
    async with cluster.client() as client:
        await client.put("k", 1000)
    assert len(await _digests_when_converged(cluster)) == 1
    code, status = await cluster.admin(follower, "GET", "/status")
    assert code == 200 and status["appliedIndex"] >= 31
    # The entry that was torn came again from the leader and now sits exactly at the cut point.
    after = segment.read_bytes()
    decoded = decode_record(after, cut)
    assert isinstance(decoded, DecodedRecord), f"no valid record at the cut point {cut}: {decoded}"
    assert decoded.entry.index == next_index
    assert after[:cut] == raw[:cut], "nothing before the cut point changed"


async def _metrics_text(cluster: LocalCluster, node_id: int) -> str:
    url = f"http://{cluster.host(node_id)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


def _sample(metrics: str, name: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not exported")
