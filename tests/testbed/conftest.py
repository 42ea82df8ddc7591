"""Fixtures giving tests a running test bed (or, for the fidelity probe, a real cluster) to talk to.

``cluster`` is session-wide: by default it starts the emulator on a loopback port in a background
thread and writes a kubeconfig; with ``HIVE_FIDELITY_KUBECONFIG=/path/to/kubeconfig`` it points at
that cluster instead, so the same tests check a real API server. Tests talk HTTP through ``api``
(raw requests with real auth from the kubeconfig) and run the real binary through ``kubectl``.
Every test gets its own ``namespace`` so the shared bed stays clean between tests.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from hive_testbed.rawclient import RawClient
from hive_testbed.testbed import TestBedThread

MANIFESTS = Path(__file__).parent / "manifests"
WIDGETS = "/apis/example.dev/v1"


@dataclasses.dataclass
class Cluster:
    url: str
    kubeconfig: Path
    emulator: TestBedThread | None  # None when the fidelity probe runs against a real cluster

    def compact(self) -> None:
        """Make old resourceVersions unusable (emulator: drop history; real: rely on etcd compaction)."""
        if self.emulator is not None:
            self.emulator.call(self.emulator.api.store.compact)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    real = os.environ.get("HIVE_FIDELITY_KUBECONFIG")
    if real:
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=real, client_configuration=configuration)
        yield Cluster(url=configuration.host, kubeconfig=Path(real), emulator=None)
        return
    workdir = tmp_path_factory.mktemp("testbed")
    bed = TestBedThread(workdir=workdir, bookmark_interval=0.5).start()
    try:
        yield Cluster(url=bed.url, kubeconfig=bed.kubeconfig, emulator=bed)
    finally:
        bed.stop()


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> RawClient:
    return RawClient.from_kubeconfig(cluster.kubeconfig)


@pytest.fixture
def namespace(api: RawClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    created = api.post("/api/v1/namespaces", {"metadata": {"name": name}})
    assert created.status == 201, created.body
    yield name
    api.delete(f"/api/v1/namespaces/{name}")


@pytest.fixture(scope="session")
def widgets(api: RawClient) -> str:
    """The test CRD ``widgets.example.dev`` installed and established; returns its API path prefix."""
    crd = yaml.safe_load((MANIFESTS / "widgets-crd.yaml").read_text())
    reply = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert reply.status in (201, 409), reply.body
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if api.get(f"{WIDGETS}/widgets").status == 200:
            return WIDGETS
        time.sleep(0.1)
    raise AssertionError("the widgets CRD was not served in time")


@dataclasses.dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.cache_dir))
        result = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.cache_dir))
        return subprocess.Popen(
            ["kubectl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )


@pytest.fixture
def kubectl(cluster: Cluster, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl binary is not installed")
    return Kubectl(cluster.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture(scope="session")
def session_kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl binary is not installed")
    return Kubectl(cluster.kubeconfig, tmp_path_factory.mktemp("kube-cache"))


@pytest.fixture
def kubectl_for(tmp_path: Path) -> Callable[[Path], Kubectl]:
    """kubectl for another test bed (e.g. one with a node agent): ``kubectl_for(bed.kubeconfig)``."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl binary is not installed")
    return lambda kubeconfig: Kubectl(kubeconfig, tmp_path / "kube-cache-other")
