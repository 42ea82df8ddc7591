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
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from hive_testbed import certmanager, k8sbuild
from hive_testbed.certmanager import CertManager
from hive_testbed.kubectl import Kubectl
from hive_testbed.plane.launcher import Plane, PlaneOptions
from hive_testbed.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).parent / "manifests"
WIDGETS = "/apis/example.dev/v1"


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
    # Controllers fill every new namespace: pods are refused until the default service account
    # exists, and the root CA ConfigMap appears in lists. Wait for both so tests start settled.
    deadline = time.monotonic() + 30
    for path in ("serviceaccounts/default", "configmaps/kube-root-ca.crt"):
        while api.get(f"/api/v1/namespaces/{name}/{path}").status != 200:
            assert time.monotonic() < deadline, f"no {path} in namespace {name}"
            time.sleep(0.1)
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


@pytest.fixture
def kubectl(cluster: Cluster, tmp_path: Path) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture(scope="session")
def session_kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp_path_factory.mktemp("kube-cache"))


LEASE_NAMESPACE = "kube-system"


@pytest.fixture(scope="session")
def cert_manager(
    cluster: Cluster, session_kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CertManager]:
    reason = certmanager.unavailable_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)  # fail, never skip: `make test` builds it first
    certmanager.install_crds(session_kubectl)
    if cluster.plane is not None:
        kubeconfig = certmanager.controller_kubeconfig(cluster.plane, session_kubectl)
    else:
        kubeconfig = cluster.kubeconfig  # another cluster (fidelity probe): its admin credentials
    manager = CertManager(
        kubeconfig=kubeconfig,
        log_path=tmp_path_factory.mktemp("cert-manager") / "cert-manager.log",
        cluster_resource_namespace="kube-system",
        leader_election_namespace=LEASE_NAMESPACE,
    )
    manager.start()
    try:
        yield manager
    finally:
        code = manager.stop()
    assert code == 0, f"cert-manager did not stop cleanly ({code}):\n{manager.log_tail()}"
    lease = session_kubectl.json("get", "lease", "cert-manager-controller", "-n", LEASE_NAMESPACE)
    assert not lease["spec"].get("holderIdentity"), "cert-manager did not release its Lease on SIGTERM"
