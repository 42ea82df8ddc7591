"""Fixtures for real-process tests: local clusters of `hive runtime serve` processes on loopback."""

from __future__ import annotations

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
