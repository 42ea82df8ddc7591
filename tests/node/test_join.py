"""Bootstrap or join, on real processes: a joining node never campaigns or forms a cluster of its
own, becomes a member only through the admin API, and once it has data ignores the configuration.

Teeth: the same check run on a build whose joining node counts itself a voter
(``tests/node/builds.py self-bootstrapping-joiner``) sees it lead a cluster of one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hive_cli.local.cluster import LocalCluster
from hive_runtime.trading.commands import AddAccount, AddInstrument, NewOrderSingle

BUILDS = [sys.executable, str(Path(__file__).with_name("builds.py"))]
JOINER = 4


async def _status(cluster: LocalCluster, node_id: int) -> dict[str, Any] | None:
    try:
        code, body = await cluster.admin(node_id, "GET", "/status")
    except (OSError, TimeoutError):
        return None
    return body if code == 200 else None


async def _campaigns_while_waiting(cluster: LocalCluster, *, seconds: float) -> list[str]:
    """Watch the joining node for ``seconds`` (several election timeouts) before anyone adds it;
    every sign that it acted as a voter is returned."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    answered = False
    while time.monotonic() < deadline:
        status = await _status(cluster, JOINER)
        if status is not None:
            answered = True
            if status["role"] != "follower" or status["term"] != 0 or status["leader"] is not None:
                seen.append(f"role {status['role']} term {status['term']} leader {status['leader']}")
        await asyncio.sleep(0.05)
    assert answered, cluster.log_tail(JOINER)
    return seen


async def test_a_joining_node_waits_to_be_added_and_then_ignores_its_configuration(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("join")
    cluster.start_all()
    leader = await cluster.wait_ready(within=60)
    joiner = cluster.add_member(JOINER)
    assert yaml.safe_load(joiner.config_path.read_text())["membership"] == "join"
    cluster.start(JOINER)
    assert await _campaigns_while_waiting(cluster, seconds=2.0) == []  # election timeout 0.15-0.3 s

    async with cluster.admin_client(leader) as admin:
        await admin.add_learner(JOINER)
        async with asyncio.timeout(30):
            while (await admin.status()).members[-1].match_index != (await admin.status()).last_log_index:
                await asyncio.sleep(0.1)
        members = await admin.promote(JOINER)
    assert {(m.id, m.role.value) for m in members.members} >= {(JOINER, "voter")}
    await cluster.wait_ready(within=60)
    async with cluster.client(operator=True, deadline=30) as operator:
        await operator.submit(AddInstrument(0, "X", tick_size=1, lot_size=1, reference_price=100))
        await operator.submit(AddAccount(0, "a"))
        for i in range(20):
            await operator.submit(NewOrderSingle(0, "a", f"o{i}", "X", 1 + i % 2, 2, 1, 100))
    _, digests = await cluster.agreed_digests(within=60)
    assert len(set(digests.values())) == 1

    # With data, the configuration's membership is ignored: a config that would make it a
    # cluster of one brings it back as the voter it is, in the four-node cluster.
    cluster.kill(JOINER)
    document = yaml.safe_load(joiner.config_path.read_text())
    document["membership"] = "bootstrap"
    document["initial_members"] = [m for m in document["initial_members"] if m["id"] == 1]
    document["initial_members"][0].update(id=JOINER, name=f"{cluster.cluster}-{JOINER - 1}")
    joiner.config_path.write_text(yaml.safe_dump(document))
    cluster.start(JOINER)
    await cluster.wait_ready(within=60)
    status = await _status(cluster, JOINER)
    assert status is not None
    assert {(m["id"], m["role"]) for m in status["members"]} == {(n, "voter") for n in (1, 2, 3, JOINER)}
    assert status["leader"] != JOINER or status["term"] > 0


def test_bad_combinations_are_refused_at_start_with_the_field_named(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "bad")
    node = cluster.nodes[1]
    document = yaml.safe_load(node.config_path.read_text())
    document["membership"] = "join"  # but node 1 is one of initial_members
    node.config_path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "hive_cli.main", "runtime", "serve", "--config", str(node.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "initial_members: " in result.stderr and "must not be one of initial_members" in result.stderr
    assert not (node.data_dir / "membership.json").exists()


async def test_teeth_a_joiner_that_counts_itself_a_voter_is_caught(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster("selfish")
    cluster.start_all()
    await cluster.wait_ready(within=60)
    cluster.add_member(JOINER)
    cluster.start(JOINER, program=[*BUILDS, "self-bootstrapping-joiner"])
    seen = await _campaigns_while_waiting(cluster, seconds=2.0)
    assert any("role leader" in sign for sign in seen), seen
