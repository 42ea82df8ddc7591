"""ClusterIP services on loopback: a small TCP proxy in place of kube-proxy.

Every Service with a selector and a cluster IP (allocated from 127.0.20.x by the API server) gets a
listener on that IP and each of its ports; a connection goes to one of the Ready pods the selector
picks (round robin), on the ``targetPort`` (number or container port name). Pods find services by
name through their hosts file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from typing import Any

from hive_testbed.api.core import ApiCore
from hive_testbed.controllers.statefulset import is_ready

log = logging.getLogger(__name__)
_SERVICES = ("", "services")
_PODS = ("", "pods")


def _target_port(pod: dict[str, Any], target: Any) -> int | None:
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


class ServiceProxy:
    def __init__(self, core: ApiCore) -> None:
        self._core = core
        self._servers: dict[
            tuple[str, int], tuple[asyncio.Server, str, str]
        ] = {}  # (ip, port) -> server, ns, name
        self._turn = itertools.count()

    def endpoints(self, namespace: str, name: str, port: int) -> list[tuple[str, int]]:
        service = self._core.store.get(_SERVICES, namespace, name)
        if service is None:
            return []
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        wanted = next((p for p in spec.get("ports") or [] if int(p.get("port", 0)) == port), None)
        if wanted is None:
            return []
        result = []
        for pod in self._core.store.list_objects(_PODS, namespace):
            labels = pod["metadata"].get("labels") or {}
            ip = (pod.get("status") or {}).get("podIP")
            target = _target_port(pod, wanted.get("targetPort", port))
            if ip and target and is_ready(pod) and all(labels.get(k) == v for k, v in selector.items()):
                result.append((ip, target))
        return result

    async def sync(self) -> None:
        wanted: dict[tuple[str, int], tuple[str, str]] = {}
        for service in self._core.store.list_objects(_SERVICES):
            spec = service.get("spec") or {}
            ip = spec.get("clusterIP")
            if not ip or ip == "None" or not ip.startswith("127.") or not spec.get("selector"):
                continue
            for port in spec.get("ports") or []:
                if port.get("protocol", "TCP") == "TCP":
                    wanted[(ip, int(port["port"]))] = (
                        service["metadata"]["namespace"],
                        service["metadata"]["name"],
                    )
        for key in [k for k in self._servers if k not in wanted]:
            server, _, _ = self._servers.pop(key)
            server.close()
        for (ip, port), (namespace, name) in wanted.items():
            if (ip, port) in self._servers:
                continue
            try:
                server = await asyncio.start_server(self._handler(namespace, name, port), ip, port)
            except OSError as exc:
                log.warning("cannot serve service %s/%s on %s:%d: %s", namespace, name, ip, port, exc)
                continue
            self._servers[(ip, port)] = (server, namespace, name)

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

    def close(self) -> None:
        for server, _, _ in self._servers.values():
            server.close()
        self._servers.clear()


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
