"""The admin API on real nodes, certificate rotation under load, backups and restore, bad config."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from hive_cli.local.cluster import LocalCluster
from hive_operator.pki.identity import Role
from hive_runtime.client import ClientError


def _hive(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hive_cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


async def test_status_reports_the_contract_fields(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    code, status = await cluster.admin(leader, "GET", "/status")
    assert code == 200
    for field in (
        "node_id", "role", "term", "leader", "commit_index", "applied_index", "members", "version",
        "digest", "digest_index", "cpuset", "pinned", "certificate", "secrets_hash",
    ):  # fmt: skip
        assert field in status, field
    assert status["role"] == "leader" and status["leader"] == leader
    assert {member["role"] for member in status["members"]} == {"voter"}
    assert all(member["match_index"] is not None for member in status["members"])
    code, digest = await cluster.admin(leader, "GET", f"/digest?index={status['applied_index']}")
    assert code == 200 and len(digest["digest"]) == 64


async def test_leadership_transfer_moves_the_leader(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster()
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    target = next(node for node in cluster.nodes if node != leader)
    code, body = await cluster.admin(leader, "POST", "/leadership/transfer", {"target": target})
    assert code == 202, body
    async with asyncio.timeout(10):
        while await cluster.wait_ready(within=10) != target:
            await asyncio.sleep(0.05)
    code, _ = await cluster.admin(leader, "POST", "/leadership/transfer", {"target": leader})
    assert code == 409  # the old leader is a follower now and says so


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
    code, body = await cluster.admin(leader, "POST", "/members", {"id": 2})
    assert code == 200, body
    assert {(m["id"], m["role"]) for m in body["members"]} == {(1, "voter"), (2, "learner")}
    cluster.start(2)
    async with asyncio.timeout(30):
        while True:
            code, status = await cluster.admin(2, "GET", "/status") if await cluster.probe(2) else (0, {})
            if code == 200 and status["applied_index"] >= 31:
                break
            await asyncio.sleep(0.1)
    code, body = await cluster.admin(leader, "POST", "/members/2/promote")
    assert code == 200, body
    assert {(m["id"], m["role"]) for m in body["members"]} == {(1, "voter"), (2, "voter")}
    async with cluster.client() as client:
        await client.put("k", "with two voters")
    code, body = await cluster.admin(leader, "DELETE", "/members/2")
    assert code == 200, body
    assert [m["id"] for m in body["members"]] == [1]


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
    cluster.start_all()
    await cluster.wait_ready(within=60)
    _, before = await cluster.admin(1, "GET", "/status")
    assert before["secrets_hash"] is not None
    secret.write_text("second")  # the kubelet rewrites the mounted file
    async with asyncio.timeout(15):
        while (await cluster.admin(1, "GET", "/status"))[1]["secrets_hash"] == before["secrets_hash"]:
            await asyncio.sleep(0.1)
    _, after = await cluster.admin(1, "GET", "/status")
    assert "second" not in str(after) and "first" not in str(after), "values never appear in status"
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
    code, receipt = await source.admin(leader, "POST", "/backups", {"directory": str(backups)})
    assert code == 201, receipt
    assert receipt["verified"] is True and receipt["index"] >= 40 and len(receipt["checksum"]) == 64
    stored = await asyncio.to_thread(Path(receipt["location"]).read_bytes)
    assert b"k3" not in stored, "backups are encrypted at rest"

    target = make_cluster("target", replicas=1)
    node = target.nodes[1]
    restore = await asyncio.to_thread(
        _hive, "runtime", "restore", "--config", str(node.config_path),
        "--backup", receipt["location"], "--key", str(source.backup_key),
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    assert receipt["digest"] in restore.stdout
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
