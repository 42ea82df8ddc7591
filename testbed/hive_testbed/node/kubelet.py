"""One node of the bed, doing a kubelet's job against the real API server.

It registers its Node (hostname and zone labels, capacity and allocatable, conditions, addresses,
node info), renews its Lease in ``kube-node-lease`` so the node lifecycle controller never taints
it, and runs the pods the scheduler binds to it. It authenticates as ``system:node:<name>``, so
the Node authorizer and the NodeRestriction admission plugin limit it exactly as a kubelet: it sees
only its own pods and the Secrets, ConfigMaps, claims and tokens they reference.

Containers run as local processes. An image-to-command table maps images without a ``command``
to a program (the Hive runtime image to ``hive runtime serve``, its tag becoming the version the
runtime reports; the generic Python images to the interpreter). Each pod gets its own loopback
address from the node's range. Guaranteed pods with whole CPUs get exclusive cores from the
machine-wide CPU manager shared by every node of the agent; the processes of other pods are moved
off those cores, as the static CPU manager policy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import ipaddress
import logging
import os
import random
import shutil
import ssl
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

import hive_testbed
from hive_testbed.kube import Informer, KubeClient, KubeError
from hive_testbed.node.cpus import CpuManager
from hive_testbed.node.network import ClusterNetwork
from hive_testbed.node.pod import PodRuntime, now_rfc3339
from hive_testbed.node.spec import SpecError, whole_cpus

log = logging.getLogger(__name__)
KUBELET_VERSION = "v1.37.2"
LEASE_SECONDS = 40
ZONES = ("zone-a", "zone-b", "zone-c")
POD_ADDRESSES = 4000


@dataclasses.dataclass(frozen=True)
class Image:
    """What the bed knows of an image: the argv it runs without a ``command``, the executables it
    provides (a container ``command`` naming one runs it), and the ENV baked into it. ``{tag}`` in
    any of them is replaced by the image's tag."""

    entrypoint: tuple[str, ...]
    executables: tuple[tuple[str, tuple[str, ...]], ...] = ()
    env: tuple[tuple[str, str], ...] = ()


def default_images() -> dict[str, Image]:
    """The Hive runtime image runs ``hive runtime serve`` and reports its tag as its build version;
    the generic Python images provide the interpreter."""
    python = (sys.executable,)
    hive = (sys.executable, "-m", "hive_cli.main")
    return {
        "hive-runtime": Image(
            entrypoint=(*hive, "runtime", "serve"),
            executables=(("hive", hive), ("python3", python), ("python", python)),
            env=(("HIVE_BUILD_VERSION", "{tag}"),),
        ),
        "python": Image(entrypoint=python, executables=(("python3", python), ("python", python))),
        "python3": Image(entrypoint=python, executables=(("python3", python), ("python", python))),
    }


def split_image(image: str) -> tuple[str, str]:
    """``registry/team/hive-runtime:1.2`` -> ``("registry/team/hive-runtime", "1.2")``."""
    last = image.rsplit("/", maxsplit=1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, "latest"


class Kubelet:
    def __init__(
        self,
        client: KubeClient,
        *,
        name: str,
        index: int,
        pod_octet: int,
        root: Path,
        network: ClusterNetwork,
        cpus: CpuManager,
        images: dict[str, Image] | None = None,
        restart_backoff: float = 10.0,
        max_backoff: float = 300.0,
        host_ip: str = "127.0.0.1",
    ) -> None:
        self.client = client
        self.name = name
        self.index = index
        self.root = root / name
        self.network = network
        self.cpu_manager = cpus
        self.images = default_images() | dict(images or {})
        self.restart_backoff = restart_backoff
        self.max_backoff = max_backoff
        self.host_ip = host_ip
        self.zone = ZONES[index % len(ZONES)]
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        disk = shutil.disk_usage(root if root.exists() else "/").total
        self.capacity = {
            "cpu": str(len(cpus.cpus)),
            "memory": f"{memory // 1024}Ki",
            "pods": "110",
            "ephemeral-storage": f"{disk // 1024}Ki",
        }
        self.allocatable = dict(self.capacity)
        # Pod addresses 127.<pod_octet>.x.y (a range per node and bed); a random start so a
        # restarted agent does not reuse an address a lingering process may still hold.
        self._ip_base = int(ipaddress.IPv4Address(f"127.{pod_octet}.0.2"))
        self._ip_cursor = random.randrange(POD_ADDRESSES)
        self.pods: dict[str, PodRuntime] = {}
        self.port = 0  # the kubelet API (container logs), served once run() starts
        self.server_ssl: ssl.SSLContext | None = None
        self._wake = asyncio.Event()
        self.informer = Informer(
            client, "/api/v1/pods", params={"fieldSelector": f"spec.nodeName={name}"}, on_change=self._changed
        )
        network.listeners.append(self._hosts_changed)

    def resolve(self, image: str, command: list[str], args: list[str], env: dict[str, str]) -> list[str]:
        """The argv a container runs, as the image would: ``command`` (or the image's entrypoint)
        with its first word looked up among the image's executables, then ``args``."""
        name, tag = split_image(image)
        known = next(
            (self.images[k] for k in (image, name, name.rsplit("/", 1)[-1]) if k in self.images), None
        )
        if not command:
            if known is None:
                raise SpecError(f"no entrypoint known for image {image!r}: set the container's command")
            command = [part.replace("{tag}", tag) for part in known.entrypoint]
        elif known is not None and command[0] in dict(known.executables):
            command = [*dict(known.executables)[command[0]], *command[1:]]
        return command + args

    def host_paths(self) -> list[str]:
        """What a container's volumes must not hide: the interpreter, the installed code and this
        node's directory (containers share the host's root filesystem)."""
        code = [str(Path(module.__file__ or "").resolve().parents[1]) for module in (hive_testbed,)]
        return sorted({sys.prefix, sys.base_prefix, str(self.root), *code, *sys.path[1:]} - {""})

    def image_env(self, image: str) -> dict[str, str]:
        name, tag = split_image(image)
        known = next(
            (self.images[k] for k in (image, name, name.rsplit("/", 1)[-1]) if k in self.images), None
        )
        return {key: value.replace("{tag}", tag) for key, value in (known.env if known else ())}

    def _changed(self, kind: str, obj: dict[str, Any]) -> None:
        runtime = self.pods.get(obj["metadata"]["uid"])
        if runtime is not None and kind != "DELETED":
            runtime.pod = obj
        self._wake.set()

    def _hosts_changed(self) -> None:
        for runtime in self.pods.values():
            if runtime.dir.exists():
                runtime.write_hosts()

    def _allocate_ip(self) -> str:
        used = {runtime.ip for runtime in self.pods.values()}
        for _ in range(POD_ADDRESSES):
            address = str(ipaddress.IPv4Address(self._ip_base + self._ip_cursor))
            self._ip_cursor = (self._ip_cursor + 1) % POD_ADDRESSES
            if address not in used and not address.endswith((".0", ".1", ".255")):
                return address
        raise RuntimeError(f"node {self.name} has no free pod address")

    # -- node object ---------------------------------------------------------------------------
    def node_object(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": self.zone,
                    "topology.kubernetes.io/region": "hive-testbed",
                    "node.kubernetes.io/instance-type": "hive-testbed",
                },
            },
            "spec": {},
        }

    def node_status(self) -> dict[str, Any]:
        stamp = now_rfc3339()

        def condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }

        return {
            "capacity": self.capacity,
            "allocatable": self.allocatable,
            "conditions": [
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition(
                    "DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"
                ),
                condition(
                    "PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"
                ),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": self.host_ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": f"hive-testbed-{self.name}",
                "systemUUID": f"hive-testbed-{self.name}",
                "bootID": f"hive-testbed-{os.getpid()}",
                "kernelVersion": os.uname().release,
                "osImage": "Hive test bed",
                "containerRuntimeVersion": "hive-testbed://1",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    async def register(self) -> None:
        try:
            await self.client.create("/api/v1/nodes", self.node_object())
        except KubeError as exc:
            if exc.status != 409:
                raise
        await self._post_status()

    async def _post_status(self) -> None:
        # Transition times of unchanged conditions stay as they were (strategic merge by type).
        current = await self.client.get(f"/api/v1/nodes/{self.name}")
        status = self.node_status()
        previous = {c["type"]: c for c in (current.get("status") or {}).get("conditions") or []}
        for condition in status["conditions"]:
            old = previous.get(condition["type"])
            if old is not None and old.get("status") == condition["status"]:
                condition["lastTransitionTime"] = old.get("lastTransitionTime")
        await self.client.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            body={"status": status},
            content_type="application/strategic-merge-patch+json",
        )

    async def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        try:
            lease = await self.client.get(path)
            lease["spec"]["renewTime"] = stamp
            lease["spec"]["holderIdentity"] = self.name
            await self.client.replace(path, lease)
        except KubeError as exc:
            if exc.status != 404:
                raise
            node = await self.client.get(f"/api/v1/nodes/{self.name}")
            await self.client.create(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {
                        "name": self.name,
                        "namespace": "kube-node-lease",
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "Node",
                                "name": self.name,
                                "uid": node["metadata"]["uid"],
                            }
                        ],
                    },
                    "spec": {
                        "holderIdentity": self.name,
                        "leaseDurationSeconds": LEASE_SECONDS,
                        "renewTime": stamp,
                    },
                },
            )

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            with contextlib.suppress(KubeError, OSError, TimeoutError):
                await self._renew_lease()
                if beats % 6 == 5:  # node status every minute, lease every 10 s (kubelet defaults)
                    await self._post_status()
            beats += 1
            await asyncio.sleep(LEASE_SECONDS / 4)

    async def event(self, pod: dict[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
        meta = pod["metadata"]
        stamp = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "reason": reason,
            "message": message,
            "type": "Warning" if warning else "Normal",
            "source": {"component": "kubelet", "host": self.name},
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        with contextlib.suppress(KubeError, OSError, TimeoutError):
            await self.client.create(f"/api/v1/namespaces/{meta['namespace']}/events", body)

    # -- pods ----------------------------------------------------------------------------------
    async def _serve_api(self) -> web.AppRunner | None:
        """The kubelet API the API server proxies ``kubectl logs`` to (HTTPS, client certificate)."""
        if self.server_ssl is None:
            return None
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host_ip, 0, ssl_context=self.server_ssl)
        await site.start()
        server = site._server
        assert server is not None
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]
        return runner

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        namespace, name, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        runtime = next((r for r in self.pods.values() if r.namespace == namespace and r.name == name), None)
        if runtime is None or not runtime.log_path(container).exists():
            raise web.HTTPNotFound(text=f'container "{container}" in pod "{name}" not found')
        data = runtime.log_path(container).read_bytes()
        tail = request.query.get("tailLines")
        if tail is not None and tail.isdigit():
            data = b"".join(data.splitlines(keepends=True)[-int(tail) :]) if int(tail) else b""
        return web.Response(body=data, content_type="text/plain")

    async def run(self) -> None:
        runner = await self._serve_api()
        await self.register()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._heartbeat())
                group.create_task(self.informer.run())
                group.create_task(self._sync_loop())
        finally:
            await self.shutdown()
            if runner is not None:
                await runner.cleanup()

    async def _sync_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):  # also refreshes mounted files, like the kubelet's resync
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except (KubeError, OSError) as exc:
                log.warning("node %s sync: %s", self.name, exc)

    async def sync(self) -> None:
        seen: set[str] = set()
        for pod in list(self.informer.objects.values()):
            meta = pod["metadata"]
            uid = meta["uid"]
            seen.add(uid)
            runtime = self.pods.get(uid)
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and runtime is None:
                if meta.get("deletionTimestamp"):
                    await self._confirm_deletion(pod)
                continue
            if meta.get("deletionTimestamp"):
                if runtime is None:
                    await self._confirm_deletion(pod)
                elif not runtime.stopping:
                    grace = float(meta.get("deletionGracePeriodSeconds", 30))
                    asyncio.get_running_loop().create_task(self._terminate(runtime, grace))
                continue
            if runtime is None:
                # A pod keeps the address it was given (the API refuses to change it), also when
                # the agent restarts and runs it again.
                known = (pod.get("status") or {}).get("podIP")
                ip = (
                    known
                    if known and known not in {r.ip for r in self.pods.values()}
                    else self._allocate_ip()
                )
                runtime = PodRuntime(self, pod, ip)
                runtime.cpus, runtime.exclusive = self.cpu_manager.allocate(uid, whole_cpus(pod))
                self.pods[uid] = runtime
                await runtime.start()
            elif runtime.volumes_ready and not runtime.stopping:
                await runtime.sync_files()
        for uid in [u for u in self.pods if u not in seen]:
            runtime = self.pods.pop(uid)
            if not runtime.stopping:
                await runtime.terminate(0.5)
            self.cpu_manager.release(uid)
            shutil.rmtree(runtime.dir, ignore_errors=True)

    async def _terminate(self, runtime: PodRuntime, grace: float) -> None:
        await self.event(runtime.pod, "Killing", "Stopping container(s)")
        await runtime.terminate(grace)
        await runtime.write_status(final=True)
        self.cpu_manager.release(runtime.uid)
        await self._confirm_deletion(runtime.pod)
        self.pods.pop(runtime.uid, None)
        shutil.rmtree(runtime.dir, ignore_errors=True)

    async def _confirm_deletion(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        with contextlib.suppress(KubeError):
            await self.client.delete(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                {"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}},
            )

    async def shutdown(self) -> None:
        """Stop every pod (the agent is going away); the objects stay for the next start."""
        await asyncio.gather(
            *(runtime.terminate(2.0) for runtime in self.pods.values()), return_exceptions=True
        )
        for runtime in self.pods.values():
            self.cpu_manager.release(runtime.uid)
        self.pods.clear()
