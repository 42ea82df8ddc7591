"""Start and stop a real control plane and the node agent on loopback (``hive dev up``/``down``).

Each component is its own detached process with its log under ``<state>/logs``; pids and ports are
kept in ``<state>/plane.json`` so ``down`` stops exactly what ``up`` started and a second ``up`` on
the same directory reuses the ports, certificates and etcd data. Startup order follows the
dependencies: etcd, the API server, the bed's bootstrap objects and CRDs, then the controller
manager, the scheduler and the node agent, each waited for before the next.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hive_testbed import k8sbuild
from hive_testbed.plane import bootstrap
from hive_testbed.plane.components import (
    AUDIT_POLICY,
    CLUSTER_DOMAIN,
    MAX_NODES,
    NETWORKS,
    Layout,
    Network,
    Ports,
    apiserver_argv,
    controller_manager_argv,
    etcd_argv,
    scheduler_argv,
)
from hive_testbed.plane.pki import PlanePki

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")


class PlaneError(RuntimeError):
    """The plane could not start; the message names the missing binary, taken port or failed component."""


@dataclasses.dataclass(frozen=True)
class PlaneOptions:
    state_dir: Path
    nodes: int = 3
    bin_dir: Path = dataclasses.field(default_factory=k8sbuild.bin_dir)
    crds_dir: Path | None = None
    apiserver_port: int = 0
    timeout: float = 120.0  # per component; start-up takes seconds, but a loaded machine is slow
    extra_images: tuple[tuple[str, str], ...] = ()


def _port_free(port: int, *, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    return True


class Plane:
    """A control plane rooted at ``options.state_dir``."""

    def __init__(self, options: PlaneOptions) -> None:
        self.options = options
        self.layout = Layout(options.state_dir.resolve())
        self.pki = PlanePki(self.layout.pki)
        self.pids: dict[str, int] = {}
        self.ports: Ports | None = None
        self.network = Network(0)

    # -- state ---------------------------------------------------------------------------------
    def _saved(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.layout.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        assert self.ports is not None
        self.layout.state_file.write_text(
            json.dumps(
                {
                    "ports": dataclasses.asdict(self.ports),
                    "pids": self.pids,
                    "nodes": self.options.nodes,
                    "network": self.network.index,
                },
                indent=2,
            )
        )

    @property
    def url(self) -> str:
        assert self.ports is not None
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        return self.layout.admin_kubeconfig

    def running(self) -> dict[str, int]:
        return {name: pid for name, pid in self._saved().get("pids", {}).items() if _pid_alive(int(pid))}

    # -- up ------------------------------------------------------------------------------------
    def _check_binaries(self) -> None:
        missing = [n for n in k8sbuild.ALL_BINARIES if not (self.options.bin_dir / n).exists()]
        if missing:
            raise PlaneError(
                f"missing {', '.join(missing)} in {self.options.bin_dir}; build them with "
                "`hive dev build` (or `make k8s`)"
            )

    def _choose_network(self) -> Network:
        """The loopback ranges this bed uses: the saved ones when no other bed holds them (its
        proxy on the ``kubernetes`` Service address), else the first free set."""
        saved = self._saved().get("network")
        order = ([int(saved)] if saved is not None else []) + list(range(NETWORKS))
        for index in order:
            if _port_free(443, host=Network(index).api_service_ip):
                if saved is not None and index != int(saved):  # its serving certificate names the old IP
                    for path in (self.pki.cert_file("apiserver"), self.pki.key_file("apiserver")):
                        path.unlink(missing_ok=True)
                return Network(index)
        raise PlaneError(f"all {NETWORKS} loopback networks are in use by other beds on this machine")

    def _choose_ports(self) -> Ports:
        saved = self._saved().get("ports") or {}
        wanted = {field.name: int(saved.get(field.name, 0)) for field in dataclasses.fields(Ports)}
        if self.options.apiserver_port:
            wanted["apiserver"] = self.options.apiserver_port
        chosen: dict[str, int] = {}
        for name, port in wanted.items():
            usable = port
            if port and not _port_free(port):
                if name == "apiserver" and self.options.apiserver_port:
                    raise PlaneError(f"port {port} for kube-apiserver is taken on 127.0.0.1")
                usable = 0
            chosen[name] = usable or _free_port()
        return Ports(**chosen)

    def _issue_certificates(self) -> None:
        pki = self.pki
        pki.issue(
            "apiserver",
            common_name="kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
            ),
            ip_addresses=("127.0.0.1", self.network.api_service_ip),
            server=True,
        )
        for index in range(self.options.nodes):
            pki.issue(
                f"node-{index}-serving",
                common_name=node_name(index),
                ip_addresses=("127.0.0.1",),
                dns_names=(node_name(index),),
                server=True,
            )
        pki.issue(
            "apiserver-kubelet-client",
            common_name="kube-apiserver-kubelet-client",
            organizations=("system:masters",),
        )
        identities = {
            "admin": ("hive-admin", ("system:masters",)),
            "kube-controller-manager": ("system:kube-controller-manager", ()),
            "kube-scheduler": ("system:kube-scheduler", ()),
            "network": (bootstrap.NETWORK_USER, ()),
            "local-provisioner": (bootstrap.PROVISIONER_USER, ()),
        }
        identities |= {
            f"node-{index}": (f"system:node:{node_name(index)}", ("system:nodes",))
            for index in range(self.options.nodes)
        }
        for name, (common_name, groups) in identities.items():
            cert, key = pki.issue(name, common_name=common_name, organizations=groups)
            kubeconfig = self.layout.admin_kubeconfig if name == "admin" else self.layout.kubeconfig(name)
            bootstrap.write_private(
                kubeconfig,
                bootstrap.render_kubeconfig(
                    server=self.url, ca_file=pki.ca_file, cert_file=cert, key_file=key, user=common_name
                ),
            )
        pki.service_account_keys()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        with self.layout.log(name).open("ab") as log:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
                cwd=self.layout.root,
            )
        self.pids[name] = process.pid
        self._save()

    def _wait(self, name: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.options.timeout
        while time.monotonic() < deadline:
            pid = self.pids.get(name)
            if pid is not None and not _pid_alive(pid):
                raise PlaneError(f"{name} exited during start-up; its log:\n{self._log_tail(name)}")
            with contextlib.suppress(OSError, urllib.error.URLError, ssl.SSLError, ValueError):
                if check():
                    return
            time.sleep(0.2)
        raise PlaneError(
            f"{name} not ready within {self.options.timeout:.0f} s; its log:\n{self._log_tail(name)}"
        )

    def _log_tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join(self.layout.log(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _https_ok(self, port: int, path: str, *, authenticated: bool = True) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki.ca_file))
        if authenticated:
            context.load_cert_chain(self.pki.cert_file("admin"), self.pki.key_file("admin"))
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=2) as reply:
            return bool(reply.status == 200)

    def kubectl(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.options.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def _apply(self, documents: list[dict[str, Any]], what: str) -> None:
        reply = self.kubectl(
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=hive-testbed",
            "-f",
            "-",
            input_text=yaml.safe_dump_all(documents),
        )
        if reply.returncode != 0:
            raise PlaneError(f"applying {what} failed: {reply.stderr.strip()}")

    def _install_crds(self) -> list[str]:
        directory = self.options.crds_dir
        if directory is None or not directory.is_dir():
            return []
        documents = [
            doc
            for path in sorted(directory.glob("*.y*ml"))
            for doc in yaml.safe_load_all(path.read_text())
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition"
        ]
        if documents:
            self._apply(documents, f"the CRDs of {directory}")
            names = [str(doc["metadata"]["name"]) for doc in documents]
            reply = self.kubectl(
                "wait", "--for=condition=Established", "--timeout=30s", *(f"crd/{name}" for name in names)
            )
            if reply.returncode != 0:
                raise PlaneError(f"CRDs not established: {reply.stderr.strip()}")
            return names
        return []

    def _nodes_ready(self) -> bool:
        reply = self.kubectl("get", "nodes", "-o", "json")
        if reply.returncode != 0:
            return False
        ready = 0
        for node in json.loads(reply.stdout).get("items", []):
            for condition in node.get("status", {}).get("conditions", []):
                if condition.get("type") == "Ready" and condition.get("status") == "True":
                    ready += 1
        return ready >= self.options.nodes

    def up(self) -> dict[str, Any]:
        """Start every component not already running; returns what ``plane.json`` records."""
        started = time.monotonic()
        self._check_binaries()
        alive = self.running()
        if alive:
            raise PlaneError(
                f"a bed already runs from {self.layout.root} ({', '.join(sorted(alive))}); "
                "stop it with `hive dev down`"
            )
        if not 1 <= self.options.nodes <= MAX_NODES:
            raise PlaneError(f"--nodes must be between 1 and {MAX_NODES} (got {self.options.nodes})")
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.network = self._choose_network()
        self.ports = self._choose_ports()
        self.pids = {}
        self._issue_certificates()
        bins = self.options.bin_dir
        try:
            self._spawn("etcd", etcd_argv(bins / "etcd", self.layout, self.ports))
            etcd_health = f"http://127.0.0.1:{self.ports.etcd_client}/health"
            self._wait("etcd", lambda: _http_ok(etcd_health))
            self.layout.audit_policy.write_text(AUDIT_POLICY)
            self._spawn(
                "kube-apiserver",
                apiserver_argv(bins / "kube-apiserver", self.layout, self.ports, self.network),
            )
            port = self.ports.apiserver
            self._wait("kube-apiserver", lambda: self._https_ok(port, "/readyz"))
            self._apply(bootstrap.bootstrap_objects(), "the bed's RBAC and StorageClass")
            crds = self._install_crds()
            self._spawn(
                "kube-controller-manager",
                controller_manager_argv(
                    bins / "kube-controller-manager", self.layout, self.ports, self.network
                ),
            )
            self._spawn("kube-scheduler", scheduler_argv(bins / "kube-scheduler", self.layout, self.ports))
            kcm, scheduler = self.ports.controller_manager, self.ports.scheduler
            self._wait(
                "kube-controller-manager", lambda: self._https_ok(kcm, "/healthz", authenticated=False)
            )
            self._wait("kube-scheduler", lambda: self._https_ok(scheduler, "/healthz", authenticated=False))
            self._spawn("node-agent", self._node_agent_argv())
            self._wait("node-agent", self._nodes_ready)
        except BaseException:
            self.down()
            raise
        return {
            "url": self.url,
            "kubeconfig": str(self.kubeconfig),
            "crds": crds,
            "seconds": round(time.monotonic() - started, 2),
            "pids": dict(self.pids),
        }

    def _node_agent_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "hive_testbed.node.main",
            f"--state-dir={self.layout.root}",
            f"--nodes={self.options.nodes}",
            f"--network={self.network.index}",
        ]
        argv += [f"--image={name}={command}" for name, command in self.options.extra_images]
        return argv

    # -- down ----------------------------------------------------------------------------------
    def down(self, *, grace: float = 20.0) -> list[str]:
        """Stop every component this bed started, the node agent (and so the pods) first."""
        pids = {**{k: int(v) for k, v in self._saved().get("pids", {}).items()}, **self.pids}
        stopped: list[str] = []
        for name in reversed(COMPONENTS):
            pid = pids.get(name)
            if pid is None or not _pid_alive(pid):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
        self.pids = {}
        saved = self._saved()
        if saved:
            saved["pids"] = {}
            self.layout.state_file.write_text(json.dumps(saved, indent=2))
        return stopped


def node_name(index: int) -> str:
    return f"hive-node-{index}"


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as reply:
        return bool(reply.status == 200)
