"""Command lines of the control-plane components, as pure functions of the bed's layout.

Everything listens on loopback. etcd speaks plain HTTP on 127.0.0.1 (only the API server talks to
it); the API server serves TLS with client-certificate authentication, the Node and RBAC
authorizers, and the default admission plugins plus NodeRestriction; the controller manager runs
every default controller with a service-account credential per controller, so RBAC applies to
them as in a real cluster. Service cluster IPs come from a loopback range, so the bed's proxy can
listen on them without routing anything off the machine.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

CLUSTER_DOMAIN = "cluster.local"
NETWORKS = 4  # beds that can run side by side on one machine
MAX_NODES = 8
ISSUER = f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}"


@dataclasses.dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int


@dataclasses.dataclass(frozen=True)
class Network:
    """The loopback ranges of one bed, so several beds can run on one machine without sharing
    addresses: bed ``k`` gives node ``i`` pod addresses ``127.(64 + 8k + i).x.y`` and allocates
    cluster IPs from ``127.(96 + k).0.0/16`` (the ``kubernetes`` Service at ``.0.1``)."""

    index: int

    @property
    def service_cidr(self) -> str:
        return f"127.{96 + self.index}.0.0/16"

    @property
    def api_service_ip(self) -> str:
        return f"127.{96 + self.index}.0.1"

    def pod_octet(self, node: int) -> int:
        return 64 + MAX_NODES * self.index + node


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where a bed keeps its state; every path derives from ``root``."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfigs"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def node_root(self) -> Path:
        return self.root / "node"

    @property
    def state_file(self) -> Path:
        return self.root / "plane.json"

    @property
    def audit_policy(self) -> Path:
        return self.root / "audit-policy.yaml"

    @property
    def audit_log(self) -> Path:
        return self.logs / "audit.log"

    def kubeconfig(self, identity: str) -> Path:
        return self.kubeconfigs / f"{identity}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


def etcd_argv(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binary),
        "--name=bed",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=bed={peer}",
        "--log-level=warn",
    ]


# Writes by service accounts outside kube-system (operators under test), metadata only: enough to
# count an operator's API writes from the server's side (tests/testbed/test_operator.py).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  userGroups: ["system:serviceaccounts:kube-system"]
- level: Metadata
  userGroups: ["system:serviceaccounts"]
  verbs: [create, update, patch, delete, deletecollection]
- level: None
"""


def apiserver_argv(binary: Path, layout: Layout, ports: Ports, network: Network) -> list[str]:
    pki = layout.pki
    return [
        str(binary),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={ports.apiserver}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--service-account-key-file={pki / 'service-accounts.pub'}",
        f"--service-account-signing-key-file={pki / 'service-accounts.key'}",
        f"--service-account-issuer={ISSUER}",
        f"--service-cluster-ip-range={network.service_cidr}",
        # The endpoints of the `kubernetes` Service would be 127.0.0.1, which the API refuses for
        # Endpoints; nothing in the bed reads them (the proxy knows where the API server is).
        "--endpoint-reconciler-type=none",
        "--allow-privileged=true",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false",
        "--event-ttl=1h",
        f"--audit-policy-file={layout.audit_policy}",
        f"--audit-log-path={layout.audit_log}",
        "--v=1",
    ]


def controller_manager_argv(binary: Path, layout: Layout, ports: Ports, network: Network) -> list[str]:
    kubeconfig = layout.kubeconfig("kube-controller-manager")
    pki = layout.pki
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        "--leader-elect=false",
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki / 'service-accounts.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={network.service_cidr}",
        "--allocate-node-cidrs=false",
        "--cluster-name=hive-testbed",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_argv(binary: Path, layout: Layout, ports: Ports) -> list[str]:
    kubeconfig = layout.kubeconfig("kube-scheduler")
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.scheduler}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]
