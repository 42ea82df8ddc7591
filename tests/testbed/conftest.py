"""Fixtures giving tests a running real control plane (or, for the fidelity probe, any cluster).

``cluster`` is session-wide: by default it starts the bed (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler built from Go modules, and the node agent with 3 nodes) in
a temporary directory; with ``HIVE_FIDELITY_KUBECONFIG=/path/to/kubeconfig`` it points at that
cluster instead, so the same tests check any real cluster. Missing binaries fail the run (``make
test`` builds them first); they never make it skip. Tests talk HTTP through ``api`` (raw requests
with the kubeconfig's credentials) and run the real kubectl through ``kubectl``. Every test gets
its own ``namespace``.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from hive_testbed import k8sbuild
from hive_testbed.plane.launcher import Plane, PlaneOptions
from hive_testbed.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).parent / "manifests"
WIDGETS = "/apis/example.dev/v1"
KUBECTL = k8sbuild.binary("kubectl")


@dataclasses.dataclass
class Cluster:
    url: str
    kubeconfig: Path
    plane: Plane | None  # None when the fidelity probe runs against another cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    real = os.environ.get("HIVE_FIDELITY_KUBECONFIG")
    if real:
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=real, client_configuration=configuration)
        yield Cluster(url=configuration.host, kubeconfig=Path(real), plane=None)
        return
    if not k8sbuild.is_built():
        pytest.fail(
            f"the Kubernetes binaries are not built in {k8sbuild.bin_dir()}: run `make k8s` "
            "(`make test` does it first)",
            pytrace=False,
        )
    plane = Plane(PlaneOptions(state_dir=tmp_path_factory.mktemp("plane"), nodes=3, crds_dir=REPO / "crds"))
    plane.up()
    try:
        yield Cluster(url=plane.url, kubeconfig=plane.kubeconfig, plane=plane)
    finally:
        plane.down()


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

    def _env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.cache_dir))

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(KUBECTL), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(KUBECTL), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self._env()
        )


@pytest.fixture
def kubectl(cluster: Cluster, tmp_path: Path) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture(scope="session")
def session_kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp_path_factory.mktemp("kube-cache"))


def wait_for(predicate: Callable[[], object], *, seconds: float = 30.0, what: str = "condition") -> object:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {seconds:.0f} s")


@pytest.fixture
def wait() -> Callable[..., object]:
    return wait_for
