"""The node agent: schedules pods onto itself and runs their containers as local processes.

Each pod gets a loopback address (127.0.10.N, reported as ``status.podIP``) and its own mount
namespace in which its volumes appear at their ``mountPath`` and a generated ``/etc/hosts``
resolves peers' pod DNS names. Readiness and liveness probes (HTTP, TCP, exec) drive the Ready
condition; containers restart with exponential back-off per ``restartPolicy``; deletion sends
SIGTERM, then SIGKILL after the grace period, then removes the pod. Works inside the API server's
event loop, reading and writing objects through :class:`~hive_testbed.api.core.ApiCore`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from hive_testbed.api.core import ApiCore, timestamp
from hive_testbed.api.errors import ApiError
from hive_testbed.api.resources import ResourceType
from hive_testbed.node import probes
from hive_testbed.node.volumes import hosts_file, sync_volume

PODS = ("", "pods")


@dataclasses.dataclass
class ContainerState:
    spec: dict[str, Any]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    ready: bool = False
    started_at: str | None = None
    exit_code: int | None = None
    waiting_reason: str | None = None
    liveness_failures: int = 0


class PodRuntime:
    def __init__(self, agent: NodeAgent, pod: dict[str, Any], ip: str) -> None:
        self.agent = agent
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.ip = ip
        self.dir: Path = agent.root / "pods" / self.uid
        self.containers = [ContainerState(c) for c in (pod.get("spec") or {}).get("containers") or []]
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False

    def is_stopping(self) -> bool:
        return self.stopping

    def pod(self) -> dict[str, Any] | None:
        pod = self.agent.core.store.get(PODS, self.namespace, self.name)
        return pod if pod is not None and pod["metadata"]["uid"] == self.uid else None

    def log_path(self, container: str) -> Path:
        return self.dir / f"{container}.log"

    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sync_files()
        for state in self.containers:
            self.tasks.append(asyncio.get_running_loop().create_task(self._supervise(state)))
            self.tasks.append(asyncio.get_running_loop().create_task(self._probe(state)))

    def sync_files(self) -> None:
        pod = self.pod()
        if pod is None:
            return
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            sync_volume(self.agent.core, pod, volume, pod_dir=self.dir, pvc_root=self.agent.root / "pvcs")
        peers = [p for p in self.agent.core.store.list_objects(PODS, self.namespace)]
        data = hosts_file(pod, peers)
        hosts = self.dir / "hosts"
        if not hosts.exists() or hosts.read_bytes() != data:
            with hosts.open("wb") as handle:
                handle.write(data)

    def _env(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/root",
            "HOSTNAME": (pod.get("spec") or {}).get("hostname") or self.name,
        }
        core = self.agent.core
        for item in container.get("env") or []:
            if "value" in item:
                env[item["name"]] = str(item["value"])
                continue
            source = item.get("valueFrom") or {}
            value: str | None = None
            if "fieldRef" in source:
                value = probes.field_value(pod, source["fieldRef"]["fieldPath"], pod_ip=self.ip)
            elif "configMapKeyRef" in source or "secretKeyRef" in source:
                secret = "secretKeyRef" in source
                ref = source["secretKeyRef" if secret else "configMapKeyRef"]
                obj = core.store.get(("", "secrets" if secret else "configmaps"), self.namespace, ref["name"])
                raw = ((obj or {}).get("data") or {}).get(ref["key"])
                if raw is not None:
                    import base64

                    value = base64.b64decode(raw).decode() if secret else str(raw)
            if value is not None:
                env[item["name"]] = value
        return env

    def _argv(self, container: dict[str, Any]) -> list[str]:
        command = list(container.get("command") or [])
        args = [str(a) for a in container.get("args") or []]
        if command:
            return command + args
        return self.agent.command_for_image(container.get("image", "")) + args

    async def _launch(self, state: ContainerState) -> None:
        pod = self.pod()
        if pod is None:
            return
        spec = state.spec
        self.sync_files()
        mounts: list[dict[str, Any]] = [{"source": str(self.dir / "hosts"), "target": "/etc/hosts"}]
        volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
        for mount in spec.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                continue
            host_dir = sync_volume(
                self.agent.core, pod, volume, pod_dir=self.dir, pvc_root=self.agent.root / "pvcs"
            )
            source = host_dir / mount["subPath"] if mount.get("subPath") else host_dir
            mounts.append(
                {"source": str(source), "target": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))}
            )
        launch = {
            "argv": self._argv(spec),
            "env": self._env(pod, spec),
            "mounts": mounts,
            "workingDir": spec.get("workingDir") or str(self.dir),
        }
        spec_file = self.dir / f"{spec['name']}.launch.json"
        spec_file.write_text(json.dumps(launch))
        log = self.log_path(spec["name"]).open("ab")
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-m",
            "hive_testbed.node.launcher",
            str(spec_file),
        ]
        state.process = await asyncio.create_subprocess_exec(
            *argv, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL, start_new_session=True
        )
        log.close()
        state.started_at = timestamp(self.agent.core.clock())
        state.waiting_reason = None
        state.ready = False
        self.agent.write_status(self)

    async def _supervise(self, state: ContainerState) -> None:
        policy = ((self.pod() or {}).get("spec") or {}).get("restartPolicy", "Always")
        backoff = self.agent.restart_backoff
        while not self.stopping:
            await self._launch(state)
            if state.process is None:
                return
            began = time.monotonic()
            state.exit_code = await state.process.wait()
            state.ready = False
            if self.is_stopping():  # stop() may have run while we awaited the exit
                return
            if policy == "Never" or (policy == "OnFailure" and state.exit_code == 0):
                self.agent.write_status(self)
                return
            if time.monotonic() - began > 60:
                backoff = self.agent.restart_backoff
            state.waiting_reason = "CrashLoopBackOff"
            self.agent.write_status(self)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.agent.max_backoff)
            state.restarts += 1

    async def _probe(self, state: ContainerState) -> None:
        readiness = state.spec.get("readinessProbe")
        liveness = state.spec.get("livenessProbe")
        probe_spec = readiness or liveness or {}
        await asyncio.sleep(float(probe_spec.get("initialDelaySeconds", 0)))
        while not self.stopping:
            period = float(probe_spec.get("periodSeconds", 10)) if probe_spec else 0.2
            running = state.process is not None and state.process.returncode is None
            if running:
                ready = True if readiness is None else await probes.run_probe(readiness, self.ip, state.spec)
                if ready != state.ready:
                    state.ready = ready
                    self.agent.write_status(self)
                if liveness is not None and not await probes.run_probe(liveness, self.ip, state.spec):
                    state.liveness_failures += 1
                    if state.liveness_failures >= int(liveness.get("failureThreshold", 3)):
                        state.liveness_failures = 0
                        self._signal(state, signal.SIGKILL)
                else:
                    state.liveness_failures = 0
            await asyncio.sleep(period)

    def _signal(self, state: ContainerState, signum: int) -> None:
        if state.process is not None and state.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.process.pid, signum)

    async def stop(self, grace: float) -> None:
        self.stopping = True
        for state in self.containers:
            self._signal(state, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for state in self.containers:
            if state.process is None:
                continue
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
                    await state.process.wait()
            except TimeoutError:
                self._signal(state, signal.SIGKILL)
                await state.process.wait()
        for task in self.tasks:
            task.cancel()


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
        ip_base: str = "127.0.10.2",
    ) -> None:
        self.core = core
        self.root = root
        self.node_name = node_name
        self.images = dict(images or {})
        self.restart_backoff = restart_backoff
        self.max_backoff = max_backoff
        self.sync_seconds = sync_seconds
        self._ip_base = int(ipaddress.IPv4Address(ip_base))
        self._ips: dict[str, str] = {}
        self.pods: dict[str, PodRuntime] = {}
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
        if uid not in self._ips:
            used = set(self._ips.values())
            offset = 0
            while str(ipaddress.IPv4Address(self._ip_base + offset)) in used:
                offset += 1
            self._ips[uid] = str(ipaddress.IPv4Address(self._ip_base + offset))
        return self._ips[uid]

    def _on_write(self, rtype: ResourceType, event_type: str, obj: dict[str, Any]) -> None:
        if rtype.group_key in (PODS, ("", "configmaps"), ("", "secrets")):
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
        finally:
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
                await runtime.start()
            else:
                runtime.sync_files()
        for uid in [u for u in self.pods if u not in seen]:
            runtime = self.pods.pop(uid)
            await runtime.stop(0.5)
            self._ips.pop(uid, None)

    async def _terminate(self, pod_type: ResourceType, runtime: PodRuntime, grace: float) -> None:
        await runtime.stop(grace)
        self.pods.pop(runtime.uid, None)
        self._ips.pop(runtime.uid, None)
        with contextlib.suppress(ApiError):
            self.core.delete(pod_type, runtime.namespace, runtime.name, {"gracePeriodSeconds": 0})
        shutil.rmtree(runtime.dir, ignore_errors=True)

    def write_status(self, runtime: PodRuntime) -> None:
        pod = runtime.pod()
        pod_type = self.core.registry.storage_type(*PODS)
        if pod is None or pod_type is None or runtime.stopping:
            return
        statuses = []
        for state in runtime.containers:
            running = state.process is not None and state.process.returncode is None
            if running:
                current: dict[str, Any] = {"running": {"startedAt": state.started_at}}
            elif state.waiting_reason:
                current = {"waiting": {"reason": state.waiting_reason}}
            elif state.exit_code is not None:
                current = {
                    "terminated": {
                        "exitCode": state.exit_code,
                        "reason": "Completed" if state.exit_code == 0 else "Error",
                    }
                }
            else:
                current = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(
                {
                    "name": state.spec["name"],
                    "image": state.spec.get("image", ""),
                    "ready": state.ready,
                    "started": running,
                    "restartCount": state.restarts,
                    "state": current,
                }
            )
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        exited = [s for s in statuses if "terminated" in s["state"]]
        phase = "Running"
        if exited and len(exited) == len(statuses):
            phase = (
                "Succeeded" if all(s["state"]["terminated"]["exitCode"] == 0 for s in exited) else "Failed"
            )
        old = pod.get("status") or {}
        condition_time = timestamp(self.core.clock())

        def condition(kind: str, value: bool) -> dict[str, Any]:
            previous: dict[str, Any] = next(
                (c for c in old.get("conditions") or [] if c.get("type") == kind), {}
            )
            status = "True" if value else "False"
            since = previous.get("lastTransitionTime") if previous.get("status") == status else condition_time
            return {"type": kind, "status": status, "lastTransitionTime": since}

        status = dict(
            old,
            phase=phase,
            podIP=runtime.ip,
            podIPs=[{"ip": runtime.ip}],
            hostIP="127.0.0.1",
            startTime=old.get("startTime") or condition_time,
            containerStatuses=statuses,
            conditions=[
                condition("PodScheduled", True),
                condition("Initialized", True),
                condition("ContainersReady", all_ready),
                condition("Ready", all_ready),
            ],
        )
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
