"""Fixtures for real-process tests: local clusters of `hive runtime serve` processes on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_cli.local.cluster import LocalCluster


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    clusters: list[LocalCluster] = []

    def make(name: str = "c", **options: Any) -> LocalCluster:
        options.setdefault("digest_interval", 10)  # tests write tens of entries, not thousands
        cluster = LocalCluster(tmp_path / name, **options)
        clusters.append(cluster)
        return cluster

    yield make
    for cluster in clusters:
        cluster.stop_all(grace=2)


@pytest.fixture(scope="module")
def warm_single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One node with a few writes applied and its cluster version replicated, so no background
    entry lands while a test compares applied indexes (one per test module)."""
    cluster = LocalCluster(tmp_path_factory.mktemp("warm"), replicas=1, digest_interval=5)
    cluster.start_all()

    async def warm() -> None:
        await cluster.wait_ready(within=60)
        async with cluster.client() as client:
            for value in range(12):
                await client.put("k", value)
        async with asyncio.timeout(30):
            while (await cluster.admin(1, "GET", "/status"))[1]["clusterVersion"] is None:
                await asyncio.sleep(0.05)

    asyncio.run(warm())
    yield cluster
    cluster.stop_all(grace=2)
