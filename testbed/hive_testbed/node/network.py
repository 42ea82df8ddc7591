"""The bed's cluster network: DNS names for pods and Services, and ClusterIP Services on loopback.

In a real cluster CoreDNS answers names from EndpointSlices and kube-proxy forwards cluster IPs.
The API refuses loopback addresses in EndpointSlices, and every pod address here is a loopback
address, so this component reads what those slices are derived from (pods and Services) under
its own identity and renders:

- the hosts entries every pod sees: ``<hostname>.<subdomain>.<ns>.svc.cluster.local`` for pods
  with a hostname and subdomain (ready, or not ready when the headless Service publishes not-ready
  addresses), each ClusterIP Service's name at its cluster IP, and each headless Service's name at
  its ready pods;
- a TCP proxy on each ClusterIP Service port (cluster IPs are allocated from a loopback range),
  forwarding each connection to one ready selected pod, round robin. The ``kubernetes`` Service
  forwards to the API server.

NetworkPolicy is stored by the API server but not enforced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any

from hive_testbed.kube import Informer, KubeClient, is_pod_ready

log = logging.getLogger(__name__)
DOMAIN = "svc.cluster.local"


def _selected(pod: dict[str, Any], selector: dict[str, str]) -> bool:
    labels = pod["metadata"].get("labels") or {}
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def target_port(pod: dict[str, Any], target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def cluster_hosts(pods: list[dict[str, Any]], services: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """``(address, names)`` lines cluster DNS would answer, from the pods and Services given."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        by_namespace.setdefault(pod["metadata"]["namespace"], []).append(pod)
    headless = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): s
        for s in services
        if (s.get("spec") or {}).get("clusterIP") == "None"
    }
    lines: list[tuple[str, str]] = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        spec = pod.get("spec") or {}
        namespace = pod["metadata"]["namespace"]
        service = headless.get((namespace, spec.get("subdomain") or ""))
        if not ip or not spec.get("subdomain") or service is None:
            continue
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        if not (publish or is_pod_ready(pod)):
            continue
        hostname = spec.get("hostname") or pod["metadata"]["name"]
        base = f"{hostname}.{spec['subdomain']}.{namespace}"
        lines.append((ip, f"{base}.{DOMAIN} {base}.svc"))
    for service in services:
        spec = service.get("spec") or {}
        namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
        names = f"{name}.{namespace}.{DOMAIN} {name}.{namespace}.svc"
        cluster_ip = spec.get("clusterIP")
        if cluster_ip and cluster_ip != "None":
            lines.append((cluster_ip, names))
            continue
        publish = bool(spec.get("publishNotReadyAddresses"))
        for pod in by_namespace.get(namespace, []):
            ip = (pod.get("status") or {}).get("podIP")
            if ip and _selected(pod, spec.get("selector") or {}) and (publish or is_pod_ready(pod)):
                lines.append((ip, names))
    return lines


def pod_hosts_file(pod: dict[str, Any], ip: str, cluster: list[tuple[str, str]]) -> bytes:
    """``/etc/hosts`` of one pod: localhost, its own names (as the kubelet writes), then the cluster's."""
    spec = pod.get("spec") or {}
    namespace = pod["metadata"]["namespace"]
    hostname = spec.get("hostname") or pod["metadata"]["name"]
    own = hostname
    if spec.get("subdomain"):
        own = f"{hostname}.{spec['subdomain']}.{namespace}.{DOMAIN} {hostname}"
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", f"{ip}\t{own}"]
    # Short Service names resolve within the pod's namespace (the DNS search path).
    suffix = f".{namespace}.{DOMAIN}"
    for address, names in cluster:
        first = names.split()[0]
        short = first[: -len(suffix)] if first.endswith(suffix) else ""
        lines.append(f"{address}\t{names}{(' ' + short) if short else ''}")
    return ("\n".join(lines) + "\n").encode()


class ClusterNetwork:
    """Watches pods and Services; serves ClusterIPs and tells listeners when DNS names change."""

    def __init__(self, client: KubeClient, *, apiserver: tuple[str, int]) -> None:
        self.client = client
        self.apiserver = apiserver
        self.pods = Informer(client, "/api/v1/pods", on_change=self._changed)
        self.services = Informer(client, "/api/v1/services", on_change=self._changed)
        self.listeners: list[Callable[[], None]] = []
        self.hosts: list[tuple[str, str]] = []
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._turn = itertools.count()
        self._dirty = asyncio.Event()

    def _changed(self, kind: str, obj: dict[str, Any]) -> None:
        self._dirty.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self.pods.run())
            group.create_task(self.services.run())
            group.create_task(self._loop())

    async def _loop(self) -> None:
        try:
            while True:
                await self._dirty.wait()
                self._dirty.clear()
                hosts = cluster_hosts(list(self.pods.objects.values()), list(self.services.objects.values()))
                if hosts != self.hosts:
                    self.hosts = hosts
                    for listener in self.listeners:
                        listener()
                await self._sync_proxies()
                await asyncio.sleep(0.05)  # coalesce bursts of events
        finally:
            for server in self._servers.values():
                server.close()

    def master_service_env(self) -> dict[str, str]:
        """The ``KUBERNETES_SERVICE_*`` variables every kubelet gives every container (in-cluster
        clients find the API server through them; the bed's proxy forwards that address)."""
        service = self.services.objects.get(("default", "kubernetes"))
        spec = (service or {}).get("spec") or {}
        ip = spec.get("clusterIP")
        ports = spec.get("ports") or []
        if not ip or not ports:
            return {}
        port = int(ports[0].get("port", 443))
        return {
            "KUBERNETES_SERVICE_HOST": ip,
            "KUBERNETES_SERVICE_PORT": str(port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
            "KUBERNETES_PORT": f"tcp://{ip}:{port}",
            f"KUBERNETES_PORT_{port}_TCP": f"tcp://{ip}:{port}",
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": str(port),
            f"KUBERNETES_PORT_{port}_TCP_ADDR": ip,
        }

    def endpoints(self, namespace: str, name: str, port: int) -> list[tuple[str, int]]:
        service = self.services.objects.get((namespace, name))
        if service is None:
            return []
        if namespace == "default" and name == "kubernetes":
            return [self.apiserver]
        spec = service.get("spec") or {}
        wanted = next((p for p in spec.get("ports") or [] if int(p.get("port", 0)) == port), None)
        if wanted is None:
            return []
        result = []
        for (pod_namespace, _), pod in self.pods.objects.items():
            ip = (pod.get("status") or {}).get("podIP")
            if pod_namespace != namespace or not ip or not is_pod_ready(pod):
                continue
            target = target_port(pod, wanted.get("targetPort", port))
            if target and _selected(pod, spec.get("selector") or {}):
                result.append((ip, target))
        return result

    async def _sync_proxies(self) -> None:
        wanted: dict[tuple[str, int], tuple[str, str]] = {}
        for (namespace, name), service in self.services.objects.items():
            spec = service.get("spec") or {}
            ip = spec.get("clusterIP")
            if not ip or ip == "None" or not ip.startswith("127."):
                continue
            for port in spec.get("ports") or []:
                if port.get("protocol", "TCP") == "TCP":
                    wanted[(ip, int(port["port"]))] = (namespace, name)
        for key in [k for k in self._servers if k not in wanted]:
            self._servers.pop(key).close()
        for (ip, port), (namespace, name) in wanted.items():
            if (ip, port) in self._servers:
                continue
            try:
                server = await asyncio.start_server(self._handler(namespace, name, port), ip, port)
            except OSError as exc:
                log.warning("cannot serve service %s/%s on %s:%d: %s", namespace, name, ip, port, exc)
                continue
            self._servers[(ip, port)] = server

    def _handler(self, namespace: str, name: str, port: int) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            endpoints = self.endpoints(namespace, name, port)
            if not endpoints:
                writer.close()
                return
            ip, target = endpoints[next(self._turn) % len(endpoints)]
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(ip, target)
            except OSError:
                writer.close()
                return
            async with asyncio.TaskGroup() as group:
                group.create_task(_pipe(reader, upstream_writer))
                group.create_task(_pipe(upstream_reader, writer))

        return handle


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
