"""The node agent: schedules pods onto itself and runs their containers as local processes.

Each pod gets a loopback address (127.1xx.y.N, reported as ``status.podIP``) and its own mount
namespace in which its volumes appear at their ``mountPath`` and a generated ``/etc/hosts``
resolves peers' pod DNS names. Readiness and liveness probes (HTTP, TCP, exec) drive the Ready
condition; containers restart with exponential back-off per ``restartPolicy``; deletion sends
SIGTERM, then SIGKILL after the grace period, then removes the pod. Guaranteed pods with whole
CPUs get exclusive cores where the machine has them. Works inside the API server's event loop,
reading and writing objects through :class:`~hive_testbed.api.core.ApiCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import shutil
import sys
from pathlib import Path
from typing import Any

from hive_testbed.api.core import ApiCore, timestamp
from hive_testbed.api.errors import ApiError
from hive_testbed.api.resources import ResourceType
from hive_testbed.node.cpus import CPUSET_ANNOTATION, EXCLUSIVE_ANNOTATION, CpuAllocator, render_cpuset
from hive_testbed.node.pod import PODS, PodRuntime
from hive_testbed.node.services import ServiceProxy


def default_images() -> dict[str, list[str]]:
    """Every ``hive-runtime:<version>`` image runs ``hive runtime serve`` reporting that version."""
    return {
        "hive-runtime": [
            sys.executable,
            "-m",
            "hive_cli.main",
            "runtime",
            "serve",
            "--set",
            'version="{tag}"',
        ]
    }


POD_ADDRESSES = 250


class NodeAgent:
    def __init__(
        self,
        core: ApiCore,
        *,
        root: Path,
        node_name: str = "hive-node-0",
        images: dict[str, list[str]] | None = None,
        restart_backoff: float = 10.0,
        max_backoff: float = 300.0,
        sync_seconds: float = 1.0,
        ip_base: str | None = None,
    ) -> None:
        self.core = core
        self.root = root
        self.node_name = node_name
        self.images = default_images() | dict(images or {})
        self.restart_backoff = restart_backoff
        self.max_backoff = max_backoff
        self.sync_seconds = sync_seconds
        # Each agent takes a /24 of its own in 127.0.0.0/8 (several test beds may run, one after
        # another, in one process, and a stopped pod's process may outlive its object briefly).
        chosen = (
            ip_base if ip_base is not None else f"127.{random.randint(100, 199)}.{random.randint(0, 255)}.2"
        )
        self._ip_base = int(ipaddress.IPv4Address(chosen))
        self._ip_cursor = 0
        self._ips: dict[str, str] = {}
        self.pods: dict[str, PodRuntime] = {}
        self.cpus = CpuAllocator()
        self.services = ServiceProxy(core)
        self.confirm_delay = 0.5
        self._wake = asyncio.Event()
        core.write_hooks.append(self._on_write)

    def command_for_image(self, image: str) -> list[str]:
        last = image.rsplit("/", maxsplit=1)[-1]
        name, _, tag = image.rpartition(":") if ":" in last else (image, "", "latest")
        short = name.split("/")[-1]
        for key in (image, name, short):
            if key in self.images:
                return [part.replace("{tag}", tag) for part in self.images[key]]
        raise ApiError(
            400, "BadRequest", f"no command known for image {image!r}; set command or map the image"
        )

    def _allocate_ip(self, uid: str) -> str:
        """The next free address after the last one handed out (round robin over 250 addresses),
        so a deleted pod's address is not reused while its process may still be exiting."""
        if uid not in self._ips:
            used = set(self._ips.values())
            for _ in range(POD_ADDRESSES):
                address = str(ipaddress.IPv4Address(self._ip_base + self._ip_cursor))
                self._ip_cursor = (self._ip_cursor + 1) % POD_ADDRESSES
                if address not in used:
                    self._ips[uid] = address
                    break
            else:
                raise ApiError(503, "ServiceUnavailable", "the node has no free pod address")
        return self._ips[uid]

    def _on_write(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        if rtype.group_key in (PODS, ("", "configmaps"), ("", "secrets"), ("", "services")):
            self._wake.set()

    async def run(self) -> None:
        node_type = self.core.registry.storage_type("", "nodes")
        assert node_type is not None
        if self.core.store.get(node_type.group_key, "", self.node_name) is None:
            self.core.create(
                node_type,
                None,
                {
                    "metadata": {
                        "name": self.node_name,
                        "labels": {"kubernetes.io/hostname": self.node_name},
                    },
                    "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]},
                },
                manager="hive-node-agent",
            )
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.sync_seconds):
                        await self._wake.wait()
                self._wake.clear()
                await self.sync()
                await self.services.sync()
        finally:
            self.services.close()
            for runtime in list(self.pods.values()):
                await runtime.stop(0.5)
            shutil.rmtree(self.root / "pods", ignore_errors=True)

    async def sync(self) -> None:
        pod_type = self.core.registry.storage_type(*PODS)
        assert pod_type is not None
        seen: set[str] = set()
        for pod in self.core.store.list_objects(PODS):
            meta = pod["metadata"]
            spec = pod.get("spec") or {}
            if not spec.get("nodeName") and not meta.get("deletionTimestamp"):
                bound = dict(pod, spec=dict(spec, nodeName=self.node_name))
                with contextlib.suppress(ApiError):
                    self.core.replace(
                        pod_type, meta["namespace"], meta["name"], bound, manager="default-scheduler"
                    )
                continue
            if spec.get("nodeName") != self.node_name:
                continue
            seen.add(meta["uid"])
            runtime = self.pods.get(meta["uid"])
            if meta.get("deletionTimestamp"):
                if runtime is not None and not runtime.stopping:
                    grace = float(meta.get("deletionGracePeriodSeconds", 30))
                    asyncio.get_running_loop().create_task(self._terminate(pod_type, runtime, grace))
                elif runtime is None:
                    self.core.finish_deletion(pod_type, meta["namespace"], meta["name"])
                continue
            if runtime is None:
                runtime = PodRuntime(self, pod, self._allocate_ip(meta["uid"]))
                self.pods[meta["uid"]] = runtime
                self._annotate_cpus(pod_type, runtime)
                await runtime.start()
            else:
                runtime.sync_files()
        for uid in [u for u in self.pods if u not in seen]:
            runtime = self.pods.pop(uid)
            await runtime.stop(0.5)
            self._ips.pop(uid, None)
            self.cpus.release(uid)

    async def _terminate(self, pod_type: ResourceType, runtime: PodRuntime, grace: float) -> None:
        await runtime.stop(grace)
        # A kubelet notices stopped containers and confirms the deletion a moment later, never within
        # milliseconds; clients such as `kubectl delete --wait` race with a faster confirmation.
        await asyncio.sleep(self.confirm_delay)
        self.pods.pop(runtime.uid, None)
        self._ips.pop(runtime.uid, None)
        self.cpus.release(runtime.uid)
        with contextlib.suppress(ApiError):
            self.core.delete(pod_type, runtime.namespace, runtime.name, {"gracePeriodSeconds": 0})
        shutil.rmtree(runtime.dir, ignore_errors=True)

    def write_status(self, runtime: PodRuntime) -> None:
        pod = runtime.pod()
        pod_type = self.core.registry.storage_type(*PODS)
        if pod is None or pod_type is None or runtime.stopping:
            return
        old = pod.get("status") or {}
        status = runtime.status(old, timestamp(self.core.clock()))
        if status == old:
            return
        with contextlib.suppress(ApiError):
            self.core.replace(
                pod_type,
                runtime.namespace,
                runtime.name,
                dict(pod, status=status),
                subresource="status",
                manager="hive-node-agent",
            )

    def _annotate_cpus(self, pod_type: ResourceType, runtime: PodRuntime) -> None:
        annotations = {
            CPUSET_ANNOTATION: render_cpuset(runtime.cpus),
            EXCLUSIVE_ANNOTATION: "true" if runtime.exclusive else "false",
        }
        with contextlib.suppress(ApiError):
            self.core.patch(
                pod_type,
                runtime.namespace,
                runtime.name,
                {"metadata": {"annotations": annotations}},
                content_type="application/merge-patch+json",
                manager="hive-node-agent",
            )
