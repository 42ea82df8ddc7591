"""The admin API on real nodes, certificate rotation under load, backups and restore, bad config."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hive_cli.local.cluster import LocalCluster
from hive_operator.pki.identity import Role
from hive_runtime.client import ClientError
from hive_runtime.contract import CONTRACT_VERSION, MemberRole, NodeRole, TransferOutcome
from hive_runtime.contract.client import NotLeader, Unreachable


def _hive(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hive_cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


async def test_status_reports_the_contract_fields(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    async with cluster.client() as client:
        for value in range(25):
            await client.put("k", value)
    async with cluster.admin_client(leader) as admin:
        status = await admin.status()
        assert status.contract_version == CONTRACT_VERSION
        assert status.build_version == importlib.metadata.version("hive")
        assert status.role is NodeRole.LEADER and status.leader == leader == status.node_id
        assert status.commit_index >= status.applied_index >= 25 and status.last_log_index >= 25
        assert {member.role for member in status.members} == {MemberRole.VOTER}
        assert all(member.match_index is not None for member in status.members)
        others = [member for member in status.members if member.id != leader]
        assert all(member.last_activity is not None for member in others), "followers answer the leader"
        assert status.snapshot_format.name == "hive-node-state" and "auditTick" in status.entry_types
        assert status.pending_membership_change is None and status.leadership_transfer is None
        ca = cluster.pki.ca_path.read_bytes()
        assert status.ca_bundle_fingerprint == hashlib.sha256(ca).hexdigest()
        assert status.digest_interval == 10 and status.latest_digest is not None
        digest = await admin.digest(index=status.latest_digest.index)
        assert digest.digest == status.latest_digest.digest and digest.reason == "interval"


async def test_leadership_transfer_reports_its_outcome(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    target = next(node for node in cluster.nodes if node != leader)
    async with cluster.admin_client(leader) as admin:
        answer = await admin.transfer_leadership(target=target, wait_seconds=10)
        assert answer.transfer.outcome is TransferOutcome.SUCCEEDED, answer
        assert answer.transfer.new_leader == target and answer.transfer.finished_at is not None
        status = await admin.status()
        assert status.leadership_transfer is not None
        assert status.leadership_transfer.id == answer.transfer.id
        assert status.leadership_transfer.outcome is TransferOutcome.SUCCEEDED
        with pytest.raises(NotLeader) as refused:  # the old leader is a follower now and says so
            await admin.transfer_leadership(target=leader)
        assert refused.value.leader == target
    async with cluster.admin_client(target) as admin:  # answer at once, outcome later in /status
        pending = await admin.transfer_leadership(target=leader)
        assert pending.transfer.target == leader
        async with asyncio.timeout(10):
            while (await admin.status()).leadership_transfer.outcome is TransferOutcome.PENDING:  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        final = (await admin.status()).leadership_transfer
        assert final is not None and final.id == pending.transfer.id
        assert final.outcome is TransferOutcome.SUCCEEDED and final.new_leader == leader


async def test_learner_is_added_caught_up_promoted_and_removed(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(replicas=1)
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    async with cluster.client() as client:
        for value in range(30):
            await client.put("k", value)
    cluster.add_member(2)
    async with cluster.admin_client(leader) as admin:
        body = await admin.add_learner(2)
        assert {(m.id, m.role) for m in body.members} == {(1, MemberRole.VOTER), (2, MemberRole.LEARNER)}
        cluster.start(2)
        async with cluster.admin_client(2) as learner, asyncio.timeout(30):
            while True:
                try:
                    if (await learner.status()).applied_index >= 31:
                        break
                except Unreachable:
                    pass
                await asyncio.sleep(0.1)
        body = await admin.promote(2)
        assert {(m.id, m.role) for m in body.members} == {(1, MemberRole.VOTER), (2, MemberRole.VOTER)}
        async with cluster.client() as client:
            await client.put("k", "with two voters")
        body = await admin.remove(2)
        assert [m.id for m in body.members] == [1]


async def test_certificates_rotate_in_place_under_load_with_no_failed_request(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    _, before = await cluster.admin(leader, "GET", "/status")
    failures: list[BaseException] = []
    done = 0
    stop = asyncio.Event()

    async def load() -> None:
        nonlocal done
        while not stop.is_set():
            try:
                async with cluster.client() as client:  # a new connection each round: new handshakes
                    for value in range(5):
                        await client.put("rotating", value)
                        done += 1
            except ClientError as error:
                failures.append(error)

    workers = [asyncio.create_task(load()) for _ in range(3)]
    await asyncio.sleep(0.5)
    for node_id in cluster.nodes:  # reissue every node's certificate, files rewritten in place
        cluster.pki.issue(
            role=Role.PEER, name=cluster.config_name(node_id), ip_addresses=(cluster.host(node_id),)
        )
    async with asyncio.timeout(15):
        while True:
            _, after = await cluster.admin(leader, "GET", "/status")
            if after["certificate"]["serial"] != before["certificate"]["serial"]:
                break
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)
    assert failures == []
    assert done > 100
    assert all(cluster.is_running(node) for node in cluster.nodes), "rotation must not restart anything"


async def test_mounted_secrets_reload_in_place(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(replicas=1)
    secret = cluster.nodes[1].data_dir.parent / "secrets" / "venue-password"
    secret.write_text("first")
    item = secret.parent / "venue" / "..2024_01_01" / "api" / "token"  # a Secret as the kubelet mounts it
    item.parent.mkdir(parents=True)
    item.write_text("token-1")
    (secret.parent / "venue" / "..data").symlink_to("..2024_01_01")
    (secret.parent / "venue" / "api").symlink_to("..data/api")
    cluster.start_all()
    await cluster.wait_ready(within=60)
    _, before = await cluster.admin(1, "GET", "/status")
    assert before["secretsHash"] is not None
    assert set(before["secrets"]) == {"venue-password", "venue/api/token"}
    secret.write_text("second")  # the kubelet rewrites the mounted file
    async with asyncio.timeout(15):
        while (await cluster.admin(1, "GET", "/status"))[1]["secretsHash"] == before["secretsHash"]:
            await asyncio.sleep(0.1)
    _, after = await cluster.admin(1, "GET", "/status")
    assert "second" not in str(after) and "first" not in str(after), "values never appear in status"
    assert after["secrets"]["venue-password"] != before["secrets"]["venue-password"]
    assert after["secrets"]["venue/api/token"] == before["secrets"]["venue/api/token"]
    assert cluster.is_running(1) and after["term"] == before["term"], "reloaded without a restart"


async def test_backup_is_encrypted_verified_and_restores_into_a_new_cluster(
    make_cluster: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    source = make_cluster("source")
    source.start_all()
    leader = await source.wait_ready(within=60)
    async with source.client() as client:
        for value in range(40):
            await client.put(f"k{value % 4}", value)
    backups = tmp_path / "backups"
    async with source.admin_client(leader) as admin:
        receipt = await admin.backup(str(backups))
    assert receipt.verified is True and receipt.index >= 40 and len(receipt.checksum) == 64
    stored = await asyncio.to_thread(Path(receipt.location).read_bytes)
    assert b"k3" not in stored, "backups are encrypted at rest"

    target = make_cluster("target", replicas=1)
    node = target.nodes[1]
    restore = await asyncio.to_thread(
        _hive, "runtime", "restore", "--config", str(node.config_path),
        "--backup", receipt.location, "--key", str(source.backup_key),
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    assert receipt.digest in restore.stdout
    target.start_all()
    await target.wait_ready(within=60)
    async with target.client() as client:
        assert [await client.get(f"k{i}") for i in range(4)] == [36, 37, 38, 39]


def test_restore_refuses_a_wrong_key(make_cluster: Callable[..., LocalCluster], tmp_path: Path) -> None:
    cluster = make_cluster(replicas=1)
    fake = tmp_path / "fake.bkp"
    fake.write_bytes(b"HIVEBKP1" + b"\0" * 64)
    config = str(cluster.nodes[1].config_path)
    result = _hive(
        "runtime", "restore", "--config", config, "--backup", str(fake), "--key", str(cluster.backup_key)
    )
    assert result.returncode == 2 and "does not decrypt" in result.stderr


def test_bad_configuration_exits_non_zero_naming_the_field(
    make_cluster: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    cluster = make_cluster(replicas=1)
    config = yaml.safe_load(cluster.nodes[1].config_path.read_text())
    config["raft"]["election_ticks"] = 1
    config["listen"]["client"] = "127.0.0.1:70000"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = _hive("runtime", "serve", "--config", str(bad))
    assert result.returncode == 2
    assert "raft.election_ticks" in result.stderr and "listen.client.port" in result.stderr
