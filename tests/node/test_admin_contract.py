"""The admin contract on real nodes: digests at deterministic indexes agree across replicas,
restarts and snapshots; requests are validated strictly; fuzzing the API from its OpenAPI
document and sending well-framed nonsense at the peer and client ports neither crashes a node
nor changes its state."""

from __future__ import annotations

import asyncio
import signal
import ssl
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from hive_cli.local.cluster import LocalCluster
from hive_runtime.contract import NodeRole, TransferOutcome
from hive_runtime.contract.client import (
    AdminClient,
    Conflict,
    InvalidRequest,
    NotFound,
    NotLeader,
    Unavailable,
)
from hive_runtime.transport import Frame
from hive_runtime.transport.frames import encode_frame


async def _recorded(admin: AdminClient, *, upto: int) -> dict[int, str]:
    """Every digest ``admin``'s node still holds at or below ``upto``, walking with atLeast."""
    found: dict[int, str] = {}
    index = 0
    while True:
        try:
            record = await admin.digest(at_least=index)
        except NotFound:
            return found
        if record.index > upto:
            return found
        found[record.index] = record.digest
        index = record.index + 1


async def test_replicas_agree_on_digests_at_equal_indexes_across_restarts_and_snapshots(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # A digest every 10 entries: a node catching up passes up to about 8 points in one Ready.
    cluster = make_cluster(snapshot_every=40, digest_interval=10, digest_max_captures=10)
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    follower, other = (node for node in cluster.nodes if node != leader)
    async with cluster.client() as client:
        for value in range(120):
            await client.put(f"k{value % 7}", value)
    await cluster.agreed_digests(within=30)
    admins = {node: cluster.admin_client(node) for node in cluster.nodes}
    try:
        before = {node: await _recorded(admin, upto=10**9) for node, admin in admins.items()}
        common = set.intersection(*(set(found) for found in before.values()))
        assert {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110} <= common, before
        for index in common:
            assert len({before[node][index] for node in cluster.nodes}) == 1, f"disagree at {index}"
        leader_status = await admins[leader].status()
        assert leader_status.snapshot_index >= 80, "snapshots were taken meanwhile"

        # Restart one follower from its own snapshot and log: it records the same digests again.
        cluster.kill(follower, sig=signal.SIGKILL)
        # And keep the other down while the log moves on and is compacted: it comes back by snapshot.
        cluster.kill(other, sig=signal.SIGKILL)
        cluster.start(follower)
        await cluster.wait_ready(node_ids=[leader, follower], within=60)
        async with cluster.client() as client:
            for value in range(150):
                await client.put(f"k{value % 7}", -value)
        cluster.start(other)
        _, agreed = await cluster.agreed_digests(within=60)
        assert len(set(agreed.values())) == 1
        after = {node: await _recorded(admin, upto=10**9) for node, admin in admins.items()}
        other_status = await admins[other].status()
        assert other_status.snapshot_index > max(before[other]), "the lagging node installed a snapshot"
        at_snapshot = await admins[other].digest(index=other_status.snapshot_index)  # recorded there
        assert at_snapshot.index == other_status.snapshot_index
        replayed = set(after[follower]) - set(before[follower]) - {0}
        assert replayed, "the restarted follower recorded digests again"
        compared = 0
        for index in set.intersection(*(set(found) for found in after.values())) | set(common):
            values = {found[index] for found in (*after.values(), *before.values()) if index in found}
            assert len(values) == 1, f"replicas disagree at {index}: {values}"
            compared += 1
        assert compared >= 12
        restarted_again = set(before[follower]) & set(after[follower])
        assert all(before[follower][i] == after[follower][i] for i in restarted_again)
        for node in cluster.nodes:  # every multiple was captured, none skipped for lack of workers
            assert await _metric(cluster, node, "hive_digests_skipped_total") == 0, cluster.log_tail(node)
    finally:
        for admin in admins.values():
            await admin.close()


async def _metric(cluster: LocalCluster, node: int, name: str) -> float:
    url = f"http://{cluster.host(node)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


async def _frames_seen(cluster: LocalCluster) -> dict[str, float]:
    url = f"http://{cluster.host(1)}:{cluster.ports['metrics']}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        text = await response.text()
    seen = {"client": 0.0, "peer": 0.0}
    for line in text.splitlines():
        if line.startswith(("hive_frames_received_total{", "hive_frames_rejected_total{")):
            for port in seen:
                if f'port="{port}"' in line:
                    seen[port] += float(line.split()[-1])
    return seen


async def _state(cluster: LocalCluster, node: int) -> tuple[int, int, str]:
    status = (await cluster.admin(node, "GET", "/status"))[1]
    return status["term"], status["appliedIndex"], status["latestDigest"]["digest"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/leadership/transfer", {"target": True}, "target"),
        ("POST", "/leadership/transfer", {"target": "2"}, "target"),
        ("POST", "/leadership/transfer", {"target": 2, "urgent": True}, "urgent"),
        ("POST", "/leadership/transfer", {"waitSeconds": -1}, "waitSeconds"),
        ("POST", "/members", {"id": 0}, "id"),
        ("POST", "/members", {"id": 100_001}, "id"),
        ("POST", "/members", [], None),
        ("POST", "/members/0/promote", None, "id"),
        ("POST", "/members/abc/promote", None, "id"),
        ("DELETE", "/members/100001", None, "id"),
        ("POST", "/members/2/promote", {"now": True}, "now"),
        ("POST", "/backups", {"directory": "relative/path"}, "directory"),
        ("POST", "/backups", {"directory": 7}, "directory"),
        ("GET", "/digest?index=-1", None, "index"),
        ("GET", "/digest?index=abc", None, "index"),
        ("GET", "/digest?since=3", None, "since"),
        ("GET", "/digest?index=10&atLeast=10", None, "atLeast"),
    ],
)
async def test_invalid_requests_get_400_naming_the_field_and_change_nothing(
    running_contract: LocalCluster, method: str, path: str, body: Any, field: str | None
) -> None:
    cluster = running_contract
    leader = await cluster.wait_ready(within=30)
    before = await _state(cluster, leader)
    code, answer = await cluster.admin(leader, method, path, body)
    assert code == 400, answer
    assert answer["contractVersion"] == 1 and answer["error"] == "invalid"
    assert answer.get("field") == field, answer
    assert await _state(cluster, leader) == before


async def test_membership_changes_that_would_break_the_cluster_are_refused(
    running_contract: LocalCluster,
) -> None:
    cluster = running_contract
    leader = await cluster.wait_ready(within=30)
    before = await _state(cluster, leader)
    async with cluster.admin_client(leader) as admin:
        with pytest.raises(Conflict, match="not a learner"):
            await admin.promote(8275)  # ADD_VOTER of a stranger would make it a voter at once
        with pytest.raises(Conflict, match="not a member"):
            await admin.remove(9)
        with pytest.raises(Conflict, match="only voter"):
            await admin.remove(leader)
    assert await _state(cluster, leader) == before


async def test_typed_client_raises_typed_errors(running_contract: LocalCluster) -> None:
    leader = await running_contract.wait_ready(within=30)
    async with running_contract.admin_client(leader) as admin:
        with pytest.raises(NotFound, match="no digest recorded at index 999999"):
            await admin.digest(index=999_999)
        with pytest.raises(InvalidRequest) as refused:
            await admin.transfer_leadership(target=leader)
        assert refused.value.field == "target"


@pytest.fixture(scope="module")
def running_contract(warm_single_node: LocalCluster) -> LocalCluster:
    return warm_single_node


async def _send_frames(cluster: LocalCluster, port: str, files: Any, frames: list[bytes]) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(cafile=str(files.ca))
    context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
    for frame in frames:
        try:
            reader, writer = await asyncio.open_connection(cluster.host(1), cluster.ports[port], ssl=context)
        except (OSError, ssl.SSLError):
            continue
        try:
            writer.write(frame)
            await writer.drain()
            async with asyncio.timeout(0.3):
                await reader.read(4096)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


INVALID_PAYLOADS: list[Any] = [
    None, 7, "x", b"\x00" * 40, [], {}, [1], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
    {"id": "1"}, {"id": 1}, {"id": 1, "key": 5}, {"id": 1, "command": b"\xff\xfe"},
    {"id": 1, "command": [1, 2]}, {"id": -1, "key": ""}, {"id": 2, "key": "k" * 300},
    {"id": 2**64 - 1}, [b"\x01" * 30, 2**63], {"id": 3, "cmd": b"\x00garbage"}, {"id": 4, "cmd": 5},
]  # fmt: skip


async def test_well_framed_nonsense_at_peer_and_client_ports_changes_nothing(
    running_contract: LocalCluster,
) -> None:
    cluster = running_contract
    await cluster.wait_ready(within=30)
    before = await _state(cluster, 1)
    client_kinds = ("get", "order", "ping", "trade", "put", "cas", "nonsense")
    client_frames = [encode_frame(Frame(kind, p)) for kind in client_kinds for p in INVALID_PAYLOADS]
    peer_frames = [encode_frame(Frame(kind, p)) for kind in ("raft", "x") for p in INVALID_PAYLOADS]
    seen_before = await _frames_seen(cluster)
    await _send_frames(cluster, "client", cluster.client_tls_files, client_frames)
    await _send_frames(cluster, "peer", cluster.tls_files(1), peer_frames)
    seen_after = await _frames_seen(cluster)
    # every frame reached the node's frame server (dispatched, or refused as an unknown kind)
    assert seen_after["client"] - seen_before["client"] >= len(client_frames)
    assert seen_after["peer"] - seen_before["peer"] >= len(peer_frames)
    assert cluster.is_running(1), cluster.log_tail(1)
    assert await cluster.wait_ready(within=10) == 1
    assert await _state(cluster, 1) == before


async def test_a_membership_change_that_cannot_commit_shows_as_pending(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(election_ticks=300)  # 3 s: the leader keeps leading after losing quorum
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    for node in cluster.nodes:
        if node != leader:
            cluster.kill(node, sig=signal.SIGKILL)
    async with cluster.admin_client(leader) as admin:
        adding = asyncio.create_task(admin.add_learner(4))
        async with asyncio.timeout(5):
            while (status := await admin.status()).pending_membership_change is None:
                await asyncio.sleep(0.02)
        pending = status.pending_membership_change
        assert pending.learners == [4] and sorted(pending.voters) == sorted(cluster.nodes)
        assert pending.index > status.commit_index
        with pytest.raises((Unavailable, NotLeader)):  # never committed: outcome unknown
            await adding


async def test_a_transfer_to_a_dead_voter_times_out_and_the_leader_stays(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    target = next(node for node in cluster.nodes if node != leader)
    cluster.kill(target, sig=signal.SIGKILL)
    async with cluster.client() as client:
        await client.put("k", "the target misses this entry")
    async with cluster.admin_client(leader) as admin:
        answer = await admin.transfer_leadership(target=target, wait_seconds=10)
        assert answer.transfer.outcome is TransferOutcome.TIMED_OUT, answer
        assert answer.transfer.new_leader == leader
        status = await admin.status()
        assert status.role is NodeRole.LEADER
        assert status.leadership_transfer is not None and status.leadership_transfer.id == answer.transfer.id
    async with cluster.client() as client:
        await client.put("k", "writes go on after the aborted transfer")
