"""One pod on the node: its containers as supervised processes, its files, probes and status.

Containers run in the pod's own mount namespace (see :mod:`hive_testbed.node.launcher`), pinned to
the CPUs the node's allocator gave the pod. Init containers run one after another to completion
first; then every container is supervised (restart with back-off per ``restartPolicy``) and probed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hive_testbed.api.core import timestamp
from hive_testbed.node import probes
from hive_testbed.node.cpus import whole_cpus
from hive_testbed.node.volumes import hosts_file, sync_volume

if TYPE_CHECKING:
    from hive_testbed.node.agent import NodeAgent

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
    readiness_failures: int = 0


class PodRuntime:
    def __init__(self, agent: NodeAgent, pod: dict[str, Any], ip: str) -> None:
        self.agent = agent
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.ip = ip
        self.dir: Path = agent.root / "pods" / self.uid
        self.containers = [ContainerState(c) for c in (pod.get("spec") or {}).get("containers") or []]
        self.init_containers = [
            ContainerState(c) for c in (pod.get("spec") or {}).get("initContainers") or []
        ]
        self.initialized = not self.init_containers
        self.failed = False
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.cpus, self.exclusive = agent.cpus.allocate(self.uid, whole_cpus(pod))

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
        self.tasks.append(asyncio.get_running_loop().create_task(self._run()))

    async def _run(self) -> None:
        policy = ((self.pod() or {}).get("spec") or {}).get("restartPolicy", "Always")
        for state in self.init_containers:  # one after another, each to successful completion
            backoff = self.agent.restart_backoff
            while not self.is_stopping():
                await self._launch(state)
                if state.process is None:
                    return
                state.exit_code = await state.process.wait()
                if state.exit_code == 0 or self.is_stopping():
                    break
                if policy == "Never":
                    self.failed = True
                    self.agent.write_status(self)
                    return
                state.waiting_reason = "CrashLoopBackOff"
                self.agent.write_status(self)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.agent.max_backoff)
                state.restarts += 1
        if self.is_stopping():
            return
        self.initialized = True
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
        services = self.agent.core.store.list_objects(("", "services"), self.namespace)
        data = hosts_file(pod, peers, services)
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
            "cpus": self.cpus,
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
                ready = True if readiness is None else await self._check(readiness, state)
                if not ready and state.ready:  # a ready container turns unready after failureThreshold misses
                    state.readiness_failures += 1
                    ready = state.readiness_failures < int((readiness or {}).get("failureThreshold", 3))
                else:
                    state.readiness_failures = 0
                if ready != state.ready:
                    state.ready = ready
                    self.agent.write_status(self)
                if liveness is not None and not await self._check(liveness, state):
                    state.liveness_failures += 1
                    if state.liveness_failures >= int(liveness.get("failureThreshold", 3)):
                        state.liveness_failures = 0
                        self._signal(state, signal.SIGKILL)
                else:
                    state.liveness_failures = 0
            await asyncio.sleep(period)

    async def _check(self, probe: dict[str, Any], state: ContainerState) -> bool:
        pid = state.process.pid if state.process is not None else None
        pod = self.pod()
        env = self._env(pod, state.spec) if pod is not None else {}
        return await probes.run_probe(probe, self.ip, state.spec, pid=pid, env=env)

    def _signal(self, state: ContainerState, signum: int) -> None:
        if state.process is not None and state.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.process.pid, signum)

    async def stop(self, grace: float) -> None:
        self.stopping = True
        everything = self.init_containers + self.containers
        for state in everything:
            self._signal(state, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for state in everything:
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

    def status(self, old: dict[str, Any], now: str) -> dict[str, Any]:
        """The pod status this runtime implies, keeping transition times of unchanged conditions."""
        statuses = [_container_status(state, initialized=self.initialized) for state in self.containers]
        init_statuses = [_container_status(state, initialized=True) for state in self.init_containers]
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        exited = [s for s in statuses if "terminated" in s["state"]]
        phase = "Running" if self.initialized else "Pending"
        if self.failed:
            phase = "Failed"
        elif exited and len(exited) == len(statuses):
            codes = [s["state"]["terminated"]["exitCode"] for s in exited]
            phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"

        def condition(kind: str, value: bool) -> dict[str, Any]:
            previous: dict[str, Any] = next(
                (c for c in old.get("conditions") or [] if c.get("type") == kind), {}
            )
            status = "True" if value else "False"
            since = previous.get("lastTransitionTime") if previous.get("status") == status else now
            return {"type": kind, "status": status, "lastTransitionTime": since}

        result = dict(
            old,
            phase=phase,
            podIP=self.ip,
            podIPs=[{"ip": self.ip}],
            hostIP="127.0.0.1",
            startTime=old.get("startTime") or now,
            containerStatuses=statuses,
            conditions=[
                condition("PodScheduled", True),
                condition("Initialized", self.initialized),
                condition("ContainersReady", all_ready),
                condition("Ready", all_ready),
            ],
        )
        if init_statuses:
            result["initContainerStatuses"] = init_statuses
        return result


def _container_status(state: ContainerState, *, initialized: bool) -> dict[str, Any]:
    running = state.process is not None and state.process.returncode is None
    if running:
        current: dict[str, Any] = {"running": {"startedAt": state.started_at}}
    elif state.waiting_reason:
        current = {"waiting": {"reason": state.waiting_reason}}
    elif state.exit_code is not None:
        reason = "Completed" if state.exit_code == 0 else "Error"
        current = {"terminated": {"exitCode": state.exit_code, "reason": reason}}
    else:
        current = {"waiting": {"reason": "ContainerCreating" if initialized else "PodInitializing"}}
    return {
        "name": state.spec["name"],
        "image": state.spec.get("image", ""),
        "ready": state.ready,
        "started": running,
        "restartCount": state.restarts,
        "state": current,
    }
