"""Run the real cert-manager controller against a test bed, and bootstrap a CA issuer with it.

The controller binary and cert-manager's CRDs are built by ``make k8s`` (``hive dev build``) from the
published ``github.com/cert-manager/cert-manager`` module (:mod:`hive_testbed.k8sbuild`,
``testbed/certmanager``). Here it runs as a local process with its own client certificate,
``system:hive:cert-manager``, bound to ``cluster-admin`` (acceptable on the bed; a real install
grants the chart's narrower ClusterRoles). Only the controller runs: no webhook (the API server
validates Certificates and Issuers with the CRDs' schemas, and nothing defaults them beyond those)
and no cainjector (no webhook or APIService needs a CA injected). It serves the SelfSigned and CA
issuer types (plus the CertificateRequest approver).

:func:`bootstrap_ca_issuer` is cert-manager's standard bootstrap: a SelfSigned ClusterIssuer issues
an ``isCA`` Certificate, and an Issuer of type CA signs with that Secret.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from hive_testbed import k8sbuild
from hive_testbed.kubectl import Kubectl, wait_for
from hive_testbed.plane import bootstrap
from hive_testbed.plane.launcher import Plane

USER = "system:hive:cert-manager"
CRD_NAMES = (
    "certificates.cert-manager.io",
    "certificaterequests.cert-manager.io",
    "issuers.cert-manager.io",
    "clusterissuers.cert-manager.io",
    "orders.acme.cert-manager.io",
    "challenges.acme.cert-manager.io",
)


class CertManagerError(RuntimeError):
    """cert-manager could not be installed or started; the message says why (and its log tail)."""


def unavailable_reason() -> str | None:
    """Why cert-manager cannot run on this machine, or ``None`` when it can."""
    if not k8sbuild.cert_manager_is_built():
        return f"cert-manager is not built in {k8sbuild.bin_dir()}: run `make k8s`"
    return None


def crd_documents(directory: Path | None = None) -> list[dict[str, Any]]:
    """cert-manager's CustomResourceDefinitions, as copied from its module by the build."""
    directory = directory or k8sbuild.cert_manager_crds_dir()
    documents = [
        doc
        for path in sorted(directory.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
    ]
    if not documents:
        raise CertManagerError(f"no cert-manager CRDs in {directory}: run `make k8s`")
    return documents


def install_crds(kubectl: Kubectl, *, directory: Path | None = None) -> list[str]:
    """Apply cert-manager's CRDs server-side and wait until they are Established; returns their names."""
    documents = crd_documents(directory)
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=hive-testbed",
        "-f",
        "-",
        stdin=yaml.safe_dump_all(documents),
    )
    names = [str(doc["metadata"]["name"]) for doc in documents]
    kubectl("wait", "--for=condition=Established", "--timeout=30s", *(f"crd/{name}" for name in names))
    return names


def controller_kubeconfig(plane: Plane, kubectl: Kubectl) -> Path:
    """A kubeconfig for cert-manager on ``plane``: its own client certificate (``system:hive:cert-manager``)
    and a ClusterRoleBinding of that user to ``cluster-admin``."""
    cert, key = plane.pki.issue("cert-manager", common_name=USER)
    path = plane.layout.kubeconfig("cert-manager")
    bootstrap.write_private(
        path,
        bootstrap.render_kubeconfig(
            server=plane.url, ca_file=plane.pki.ca_file, cert_file=cert, key_file=key, user=USER
        ),
    )
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "hive-testbed:cert-manager"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }
    kubectl(
        "apply", "--server-side", "--field-manager=hive-testbed", "-f", "-", stdin=yaml.safe_dump(binding)
    )
    return path


@dataclasses.dataclass
class CertManager:
    """The cert-manager controller as a local process; a context manager that always stops it."""

    kubeconfig: Path
    log_path: Path
    cluster_resource_namespace: str = "kube-system"
    leader_election_namespace: str | None = None  # None: leader election off
    binary: Path = dataclasses.field(default_factory=lambda: k8sbuild.binary(k8sbuild.CERT_MANAGER))
    _process: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        argv = [
            str(self.binary),
            f"--kubeconfig={self.kubeconfig}",
            f"--cluster-resource-namespace={self.cluster_resource_namespace}",
            "--v=2",
        ]
        if self.leader_election_namespace is None:
            argv.append("--leader-elect=false")
        else:
            argv += ["--leader-elect=true", f"--leader-election-namespace={self.leader_election_namespace}"]
        return argv

    def start(self) -> None:
        if self._process is not None:
            raise CertManagerError("cert-manager is already running")
        if not self.binary.exists():
            raise CertManagerError(f"{self.binary} is missing: run `make k8s`")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def check_alive(self) -> None:
        """Raise with the log tail if the controller has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise CertManagerError(
                f"cert-manager exited with {self._process.returncode}; its log:\n{self.log_tail()}"
            )

    def stop(self, *, grace: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code (None if never started)."""
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        return process.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> CertManager:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def condition(obj: dict[str, Any], kind: str = "Ready") -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


def wait_ready(
    kubectl: Kubectl,
    resource: str,
    name: str,
    *,
    namespace: str | None = None,
    seconds: float = 30.0,
    manager: CertManager | None = None,
) -> dict[str, Any]:
    """Wait for a cert-manager object's Ready condition to be True; returns the object."""
    scope = ["-n", namespace] if namespace else []

    def ready() -> dict[str, Any] | None:
        if manager is not None:
            manager.check_alive()
        obj: dict[str, Any] = kubectl.json("get", resource, name, *scope)
        found = condition(obj)
        return obj if found and found.get("status") == "True" else None

    try:
        found = wait_for(ready, seconds=seconds, what=f"{resource} {name} Ready")
    except AssertionError as error:
        obj = kubectl("get", resource, name, *scope, "-o", "yaml", check=False).stdout
        tail = manager.log_tail() if manager is not None else ""
        raise AssertionError(f"{error}\n{obj}\ncert-manager log:\n{tail}") from None
    assert found is not None
    return found


def bootstrap_ca_issuer(
    kubectl: Kubectl,
    namespace: str,
    *,
    issuer: str = "hive-ca",
    self_signed: str = "hive-testbed-selfsigned",
    manager: CertManager | None = None,
    seconds: float = 30.0,
) -> dict[str, Any]:
    """cert-manager's standard CA bootstrap: a SelfSigned ClusterIssuer ``self_signed`` issues the CA
    Certificate ``<issuer>-root`` (ECDSA P-256, Secret ``<issuer>-root``) in ``namespace``, and the CA
    Issuer ``issuer`` there signs with it. Waits for each to be Ready; returns the Issuer."""
    cluster_issuer = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": self_signed},
        "spec": {"selfSigned": {}},
    }
    kubectl("apply", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(cluster_issuer))
    wait_ready(kubectl, "clusterissuer", self_signed, seconds=seconds, manager=manager)
    root = f"{issuer}-root"
    documents = [
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": {"name": root, "namespace": namespace},
            "spec": {
                "isCA": True,
                "commonName": f"{issuer} root",
                "subject": {"organizations": ["hive-testbed"]},
                "secretName": root,
                "duration": "87600h",
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": self_signed, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
        },
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "Issuer",
            "metadata": {"name": issuer, "namespace": namespace},
            "spec": {"ca": {"secretName": root}},
        },
    ]
    kubectl("apply", "--validate=strict", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(documents))
    wait_ready(kubectl, "certificate", root, namespace=namespace, seconds=seconds, manager=manager)
    return wait_ready(kubectl, "issuer", issuer, namespace=namespace, seconds=seconds, manager=manager)
