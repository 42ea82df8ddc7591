"""Run N runtime replicas as real processes on loopback, each on a loopback address of its own.

Every node listens on the same ports at ``127.77.<cluster octet>.<node id>``, exactly as pods of
a StatefulSet share ports on different IPs, so the node configuration uses the same address
template it would use in Kubernetes. Certificates come from a throwaway CA under the data
directory; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from hive_cli.local.material import LocalPki, TlsFileSet, write_audit_keys, write_secret_key
from hive_operator.pki.identity import Role
from hive_runtime.client import Client, ClientTls
from hive_runtime.contract.client import AdminClient, client_context


def _free_octet(attempts: int = 50) -> int:
    """A ``127.77.<octet>.0/24`` whose peer port is free on the first addresses (no other local
    cluster, or a leftover process of one, is using it)."""
    for _ in range(attempts):
        octet = random.randint(1, 250)
        try:
            for node_id in (1, 2, 3):
                with socket.socket() as probe:
                    probe.bind((f"127.77.{octet}.{node_id}", 7100))
        except OSError:
            continue
        return octet
    raise RuntimeError("no free 127.77.x.0/24 range for a local cluster")


@dataclass
class LocalNode:
    node_id: int
    host: str
    config_path: Path
    data_dir: Path
    log_path: Path
    audit_public_key: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class LocalCluster:
    root: Path
    replicas: int = 3
    cluster: str = "local"
    namespace: str = "local"
    octet: int = field(default_factory=_free_octet)
    tick_ms: int = 10
    election_ticks: int = 15
    snapshot_every: int = 50_000
    digest_interval: int = 1_000
    digest_max_captures: int = 3
    # The register space (put/cas/get) is a test and benchmark aid that the operator never
    # renders; local clusters (``hive local up``, tests, benchmarks) have it on.
    register_space: bool = True
    extra_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.nodes: dict[int, LocalNode] = {}
        self.ports = {"peer": 7100, "client": 7200, "admin": 7300, "probe": 7400, "metrics": 7500}
        self.pki = LocalPki(self.root / "tls", namespace=self.namespace, cluster=self.cluster)
        self.client_tls_files = self.pki.issue(role=Role.CLIENT, name="local-client")
        self.operator_tls_files = self.pki.issue(role=Role.OPERATOR, name="local-operator")
        self.backup_key = write_secret_key(self.root / "secrets" / "backup.key")
        for node_id in range(1, self.replicas + 1):
            self.nodes[node_id] = self._prepare(node_id, initial=list(range(1, self.replicas + 1)))

    def add_member(self, node_id: int) -> LocalNode:
        """Prepare (not start) a node that will join the running cluster as a learner."""
        if node_id in self.nodes:
            raise ValueError(f"node {node_id} already exists")
        self.nodes[node_id] = self._prepare(node_id, initial=list(range(1, self.replicas + 1)))
        return self.nodes[node_id]

    def config_name(self, node_id: int) -> str:
        return f"{self.cluster}-{node_id - 1}"

    def host(self, node_id: int) -> str:
        return f"127.77.{self.octet}.{node_id}"

    def _prepare(self, node_id: int, *, initial: list[int]) -> LocalNode:
        host = self.host(node_id)
        name = f"{self.cluster}-{node_id - 1}"
        tls = self.pki.issue(role=Role.PEER, name=name, ip_addresses=(host,))
        node_dir = self.root / f"node-{node_id}"
        private, public = write_audit_keys(node_dir / "keys")
        prefix = f"127.77.{self.octet}"
        members = [
            {
                "id": member,
                "name": f"{self.cluster}-{member - 1}",
                "peer": f"{prefix}.{member}:{self.ports['peer']}",
                "client": f"{prefix}.{member}:{self.ports['client']}",
            }
            for member in initial
        ]
        config: dict[str, Any] = {
            "node_id": node_id,
            "namespace": self.namespace,
            "cluster": self.cluster,
            "membership": "bootstrap" if node_id in initial else "join",
            "initial_members": members,
            "member_template": {
                "peer": f"{prefix}.{{id}}:{self.ports['peer']}",
                "client": f"{prefix}.{{id}}:{self.ports['client']}",
            },
            "listen": {name: f"{host}:{port}" for name, port in self.ports.items()},
            "data_dir": str(node_dir / "data"),
            "tls": {
                "ca": str(tls.ca),
                "cert": str(tls.cert),
                "key": str(tls.key),
                "reload_poll_seconds": 0.5,
            },
            "backup_key_file": str(self.backup_key),
            "secrets_dir": str(node_dir / "secrets"),
            "audit_checkpoint_every": 100,
            "audit_key_file": str(private),
            "raft": {
                "tick_ms": self.tick_ms,
                "election_ticks": self.election_ticks,
                "heartbeat_ticks": 2,
                "snapshot_every": self.snapshot_every,
                "keep_entries": min(5_000, self.snapshot_every // 2),
            },
            "transport": {"reconnect_initial_seconds": 0.02, "reconnect_max_seconds": 0.25},
            "digests": {
                "interval": self.digest_interval,
                "window": 256,
                "max_captures": self.digest_max_captures,
            },
            "register_space": self.register_space,
            **self.extra_config,
        }
        (node_dir / "secrets").mkdir(parents=True, exist_ok=True)
        config_path = node_dir / "config.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return LocalNode(
            node_id=node_id,
            host=host,
            config_path=config_path,
            data_dir=node_dir / "data",
            log_path=node_dir / "node.log",
            audit_public_key=public,
        )

    def tls_files(self, node_id: int) -> TlsFileSet:
        directory = self.pki.root / f"peer-{self.cluster}-{node_id - 1}"
        return TlsFileSet(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")

    # -- processes ------------------------------------------------------------------------------
    def start(
        self, node_id: int, *, program: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        """Start ``hive runtime serve`` for the node; ``program`` replaces ``python -m hive_cli.main``
        (tests run another build that way) and ``env`` adds variables."""
        node = self.nodes[node_id]
        if node.process is not None and node.process.poll() is None:
            return
        log = open(node.log_path, "ab")  # noqa: SIM115 - handed to the child process
        launcher = program if program is not None else [sys.executable, "-m", "hive_cli.main"]
        node.process = subprocess.Popen(
            [*launcher, "runtime", "serve", "--config", str(node.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        log.close()

    def start_all(self) -> None:
        for node_id in self.nodes:
            self.start(node_id)

    def kill(self, node_id: int, *, sig: int = signal.SIGKILL) -> None:
        process = self.nodes[node_id].process
        if process is not None and process.poll() is None:
            process.send_signal(sig)
            process.wait(timeout=30)

    def is_running(self, node_id: int) -> bool:
        process = self.nodes[node_id].process
        return process is not None and process.poll() is None

    def stop_all(self, *, grace: float = 5.0) -> None:
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for node in self.nodes.values():
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    # -- observation ----------------------------------------------------------------------------
    def client_endpoints(self) -> list[tuple[str, int]]:
        return [(self.host(node_id), self.ports["client"]) for node_id in self.nodes]

    def client(self, *, deadline: float = 10.0, operator: bool = False) -> Client:
        """A client with a trader certificate, or the operator's (needed for limits and controls)."""
        files = self.operator_tls_files if operator else self.client_tls_files
        tls = ClientTls(
            ca=files.ca, cert=files.cert, key=files.key, namespace=self.namespace, cluster=self.cluster
        )
        return Client(endpoints=self.client_endpoints(), tls=tls, deadline=deadline)

    def _operator_context(self) -> ssl.SSLContext:
        files = self.operator_tls_files
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cafile=str(files.ca))
        context.load_cert_chain(certfile=str(files.cert), keyfile=str(files.key))
        return context

    async def probe(self, node_id: int) -> dict[str, Any] | None:
        url = f"http://{self.host(node_id)}:{self.ports['probe']}/readyz"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session,
                session.get(url) as response,
            ):
                body: dict[str, Any] = await response.json()
                return body
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
            return None

    async def admin(self, node_id: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        url = f"https://{self.host(node_id)}:{self.ports['admin']}{path}"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
            session.request(method, url, json=body, ssl=self._operator_context()) as response,
        ):
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    def admin_client(self, node_id: int, *, files: TlsFileSet | None = None) -> AdminClient:
        """The typed admin client (the operator's certificate unless ``files`` says otherwise)."""
        files = files if files is not None else self.operator_tls_files
        context = client_context(
            ca=files.ca, cert=files.cert, key=files.key, namespace=self.namespace, cluster=self.cluster
        )
        return AdminClient(f"https://{self.host(node_id)}:{self.ports['admin']}", context=context)

    async def agreed_digests(self, *, within: float = 60.0) -> tuple[int, dict[int, str]]:
        """Wait until every running node has applied the same index, then return an index every
        one of them recorded a digest at, and each node's digest there (equal when they agree)."""
        last: Any = None
        async with asyncio.timeout(within):
            while True:
                await self.wait_ready(within=within)
                statuses = await self.statuses()
                running = [n for n in self.nodes if self.is_running(n)]
                applied = {status["appliedIndex"] for status in statuses.values()}
                recorded = sorted(
                    {s["latestDigest"]["index"] for s in statuses.values() if s["latestDigest"]}, reverse=True
                )
                if len(statuses) == len(running) and len(applied) == 1:
                    for index in recorded:
                        answers = {n: await self.admin(n, "GET", f"/digest?index={index}") for n in running}
                        last = answers
                        if all(code == 200 for code, _ in answers.values()):
                            return index, {n: body["digest"] for n, (_, body) in answers.items()}
                await asyncio.sleep(0.1)
        raise AssertionError(f"unreachable: {last}")

    async def wait_ready(self, *, node_ids: list[int] | None = None, within: float = 30.0) -> int:
        """Wait until every given running node is ready and they agree on a leader; returns it."""
        wanted = node_ids if node_ids is not None else [n for n in self.nodes if self.is_running(n)]
        probes: list[dict[str, Any] | None] = []
        try:
            async with asyncio.timeout(within):
                while True:
                    probes = list(await asyncio.gather(*(self.probe(node_id) for node_id in wanted)))
                    leaders = {probe.get("leader") for probe in probes if probe}
                    if all(probe and probe.get("ready") for probe in probes) and len(leaders) == 1:
                        leader = leaders.pop()
                        if isinstance(leader, int) and self.is_running(leader):
                            return leader
                    await asyncio.sleep(0.05)
        except TimeoutError:
            details = [
                f"node {node_id}: running={self.is_running(node_id)} probe={probe}"
                for node_id, probe in zip(wanted, probes, strict=False)
            ]
            tails = [f"--- node {n} log tail:\n{self.log_tail(n)}" for n in wanted]
            raise TimeoutError(
                f"cluster not ready within {within}s:\n" + "\n".join(details + tails)
            ) from None

    def log_tail(self, node_id: int, lines: int = 15) -> str:
        path = self.nodes[node_id].log_path
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"
        )

    async def statuses(self) -> dict[int, dict[str, Any]]:
        result = {}
        for node_id in self.nodes:
            if self.is_running(node_id):
                try:
                    code, body = await self.admin(node_id, "GET", "/status")
                except (aiohttp.ClientError, TimeoutError):
                    continue
                if code == 200:
                    result[node_id] = body
        return result
