"""Pure parts of the node agent: the image-to-command map and CPU set rendering and allocation."""

from __future__ import annotations

from typing import Any

import pytest

from hive_testbed.api.core import ApiCore
from hive_testbed.api.errors import ApiError
from hive_testbed.api.resources import ResourceRegistry
from hive_testbed.api.store import Store
from hive_testbed.node.agent import NodeAgent
from hive_testbed.node.cpus import CpuAllocator, render_cpuset, whole_cpus
from hive_testbed.node.volumes import atomic_write


def test_image_to_command_map(tmp_path: Any) -> None:
    agent = NodeAgent(
        ApiCore(registry=ResourceRegistry(), store=Store()),
        root=tmp_path,
        images={"tiny": ["serve", "--version", "{tag}"]},
    )
    assert agent.command_for_image("registry.example/tiny:v2") == ["serve", "--version", "v2"]
    runtime = agent.command_for_image("ghcr.io/acme/hive-runtime:1.10")
    assert runtime[-4:] == ["runtime", "serve", "--set", 'version="1.10"']
    with pytest.raises(ApiError):
        agent.command_for_image("unknown:1")


def test_cpuset_rendering() -> None:
    assert render_cpuset([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert render_cpuset([3]) == "3"


def test_exclusive_cpus_for_guaranteed_whole_cpu_pods_only() -> None:
    def pod(cpu: str, limit: str | None = None) -> dict[str, Any]:
        resources = {
            "requests": {"cpu": cpu, "memory": "1Gi"},
            "limits": {"cpu": limit or cpu, "memory": "1Gi"},
        }
        return {"spec": {"containers": [{"name": "c", "resources": resources}]}}

    assert whole_cpus(pod("2")) == 2
    assert whole_cpus(pod("1500m")) == 0
    assert whole_cpus(pod("1", limit="2")) == 0
    allocator = CpuAllocator([0, 1, 2, 3])
    assert allocator.allocate("a", 2) == ([1, 2], True)
    assert allocator.allocate("b", 2) == ([0, 3], False)  # does not fit: shares what is left
    assert allocator.shared() == [0, 3]
    allocator.release("a")
    assert allocator.allocate("c", 1) == ([1], True)


def test_atomic_write_swaps_the_data_link(tmp_path: Any) -> None:
    atomic_write(tmp_path, {"tls.crt": b"one", "nested/ca.crt": b"ca"}, 0o600)
    first = (tmp_path / "..data").resolve()
    assert (tmp_path / "tls.crt").read_bytes() == b"one"
    assert (tmp_path / "nested" / "ca.crt").read_bytes() == b"ca"
    inode = (tmp_path / "tls.crt").stat().st_ino
    atomic_write(tmp_path, {"tls.crt": b"one", "nested/ca.crt": b"ca"}, 0o600)
    assert (tmp_path / "..data").resolve() == first  # unchanged content: nothing republished
    atomic_write(tmp_path, {"tls.crt": b"two"}, 0o600)
    assert (tmp_path / "tls.crt").read_bytes() == b"two"
    assert (tmp_path / "tls.crt").stat().st_ino != inode  # a new file, as reloaders expect
    assert not (tmp_path / "nested").exists()
    assert not first.exists()
    assert oct((tmp_path / "tls.crt").stat().st_mode & 0o777) == "0o600"
