"""One pod on a node: its containers as supervised processes, its files, probes, status and end.

Containers run in the pod's own mount namespace (see :mod:`hive_testbed.node.launcher`), pinned to
the CPUs the node's CPU manager gave the pod. The pod starts only once every volume can be made
(Secrets and ConfigMaps exist, claims are bound); init containers run to completion one after
another; then each container is supervised (restart with back-off per ``restartPolicy``) and
probed (startup, then readiness and liveness). Deletion runs preStop hooks, SIGTERM, waits the
grace period, SIGKILLs, reports the final status and then deletes the pod object with grace 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hive_testbed.kube import KubeError
from hive_testbed.node import probes
from hive_testbed.node.network import pod_hosts_file
from hive_testbed.node.spec import SpecError, container_argv, container_env, referenced_objects
from hive_testbed.node.volumes import atomic_write, token_requests, volume_files

if TYPE_CHECKING:
    from hive_testbed.node.kubelet import Kubelet

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class ContainerState:
    spec: dict[str, Any]
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    ready: bool = False
    started: bool = False  # the startup probe (if any) has succeeded
    started_at: str | None = None
    exit_code: int | None = None
    finished_at: str | None = None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    last_terminated: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class PodRuntime:
    def __init__(self, kubelet: Kubelet, pod: dict[str, Any], ip: str) -> None:
        self.kubelet = kubelet
        self.pod = pod
        self.uid: str = pod["metadata"]["uid"]
        self.namespace: str = pod["metadata"]["namespace"]
        self.name: str = pod["metadata"]["name"]
        self.ip = ip
        self.dir: Path = kubelet.root / "pods" / self.uid
        spec = pod.get("spec") or {}
        self.containers = [ContainerState(c) for c in spec.get("containers") or []]
        self.init_containers = [ContainerState(c) for c in spec.get("initContainers") or []]
        self.initialized = not self.init_containers
        self.volumes_ready = False
        self.failed = False
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []
        self.cpus: list[int] = []
        self.exclusive = False
        self._objects: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._tokens: dict[tuple[str, int | None], tuple[str, float]] = {}
        self._status_dirty = asyncio.Event()
        self._last_status: dict[str, Any] | None = None
        self.host_ip = kubelet.host_ip

    def is_stopping(self) -> bool:
        return self.stopping

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.name}"

    def log_path(self, container: str) -> Path:
        return self.dir / f"{container}.log"

    # -- files ---------------------------------------------------------------------------------
    async def _fetch_objects(self) -> None:
        client = self.kubelet.client
        fetched: dict[tuple[str, str], dict[str, Any] | None] = {}
        for kind, name in referenced_objects(self.pod):
            plural = "secrets" if kind == "secret" else "configmaps"
            try:
                fetched[(kind, name)] = await client.get(
                    f"/api/v1/namespaces/{self.namespace}/{plural}/{name}"
                )
            except KubeError as exc:
                if exc.status != 404:
                    raise
                fetched[(kind, name)] = None
        self._objects = fetched

    async def _fetch_tokens(self) -> dict[tuple[str, int | None], str]:
        account = (self.pod.get("spec") or {}).get("serviceAccountName") or "default"
        now = time.monotonic()
        for audience, expiration in token_requests(self.pod):
            token, refresh_at = self._tokens.get((audience, expiration), ("", 0.0))
            if token and now < refresh_at:
                continue
            seconds = int(expiration or 3607)
            spec: dict[str, Any] = {
                "expirationSeconds": seconds,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid},
            }
            if audience:
                spec["audiences"] = [audience]
            reply = await self.kubelet.client.create(
                f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            )
            # Refreshed at 80% of its life, as the kubelet does.
            self._tokens[(audience, expiration)] = (reply["status"]["token"], now + 0.8 * seconds)
        return {key: token for key, (token, _) in self._tokens.items()}

    async def _volume_path(self, volume: dict[str, Any]) -> Path:
        if "persistentVolumeClaim" in volume:
            claim_name = volume["persistentVolumeClaim"]["claimName"]
            claim = await self.kubelet.client.get(
                f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{claim_name}"
            )
            if (claim.get("status") or {}).get("phase") != "Bound":
                raise SpecError(f'persistentvolumeclaim "{claim_name}" is not bound')
            pv = await self.kubelet.client.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
            source = (pv.get("spec") or {}).get("local") or (pv.get("spec") or {}).get("hostPath") or {}
            path = Path(str(source.get("path", "")))
            if not path.is_absolute():
                raise SpecError(f"persistentvolume {pv['metadata']['name']} has no local path")
            path.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (a local directory; instant)
            return path
        return self.dir / "volumes" / str(volume["name"])

    async def sync_files(self) -> bool:
        """Make or refresh every volume and the hosts file; False (and a waiting reason) when a
        source is missing, as the kubelet's FailedMount."""
        try:
            await self._fetch_objects()
            tokens = await self._fetch_tokens()
            for volume in (self.pod.get("spec") or {}).get("volumes") or []:
                path = await self._volume_path(volume)
                path.mkdir(parents=True, exist_ok=True)
                made = volume_files(
                    self.pod,
                    volume,
                    objects=self._objects,
                    tokens=tokens,
                    pod_ip=self.ip,
                    host_ip=self.host_ip,
                    allocatable=self.kubelet.allocatable,
                )
                if made is not None:
                    atomic_write(path, made[0], made[1])
        except (SpecError, KubeError) as exc:
            if not self.volumes_ready:
                for state in self.containers:
                    state.waiting_reason, state.waiting_message = "ContainerCreating", str(exc)
                await self.kubelet.event(
                    self.pod, "FailedMount", f"MountVolume.SetUp failed: {exc}", warning=True
                )
                self.mark_dirty()
            return False
        self.write_hosts()
        return True

    def write_hosts(self) -> None:
        data = pod_hosts_file(self.pod, self.ip, self.kubelet.network.hosts)
        hosts = self.dir / "hosts"
        if not hosts.exists() or hosts.read_bytes() != data:
            with hosts.open("wb") as handle:  # in place: the file is bind-mounted by inode
                handle.write(data)

    # -- running -------------------------------------------------------------------------------
    async def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.tasks.append(asyncio.get_running_loop().create_task(self._run()))
        self.tasks.append(asyncio.get_running_loop().create_task(self._status_writer()))
        self.mark_dirty()

    async def _run(self) -> None:
        while not self.stopping and not await self.sync_files():
            await asyncio.sleep(1.0)
        if self.stopping:
            return
        self.volumes_ready = True
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        for state in self.init_containers:
            backoff = self.kubelet.restart_backoff
            while not self.stopping:
                await self._launch(state)
                if state.process is None:
                    return
                state.exit_code = await state.process.wait()
                state.finished_at = now_rfc3339()
                if state.exit_code == 0 or self.stopping:
                    break
                if policy == "Never":
                    self.failed = True
                    self.mark_dirty()
                    return
                state.waiting_reason = "CrashLoopBackOff"
                self.mark_dirty()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.kubelet.max_backoff)
                state.restarts += 1
        if self.is_stopping():
            return
        self.initialized = True
        for state in self.containers:
            self.tasks.append(asyncio.get_running_loop().create_task(self._supervise(state)))
            self.tasks.append(asyncio.get_running_loop().create_task(self._probe(state)))

    async def _launch(self, state: ContainerState) -> None:
        spec = state.spec
        await self.sync_files()
        try:
            env = self._env(spec)
            argv = container_argv(spec, env, [])
            command = argv[: len(spec.get("command") or [])]
            argv = self.kubelet.resolve(spec.get("image", ""), command, argv[len(command) :], env)
        except SpecError as exc:
            state.waiting_reason, state.waiting_message = "CreateContainerConfigError", str(exc)
            self.mark_dirty()
            await asyncio.sleep(2.0)
            return await self._launch(state) if not self.stopping else None
        mounts: list[dict[str, Any]] = [{"source": str(self.dir / "hosts"), "target": "/etc/hosts"}]
        volumes = {v["name"]: v for v in (self.pod.get("spec") or {}).get("volumes") or []}
        for mount in spec.get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is None:
                continue
            host_dir = await self._volume_path(volume)
            source = host_dir / mount["subPath"] if mount.get("subPath") else host_dir
            mounts.append(
                {"source": str(source), "target": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))}
            )
        launch = {
            "argv": argv,
            "env": env,
            "mounts": mounts,
            "workingDir": spec.get("workingDir") or "/",
            "cpus": self.cpus if self.exclusive else self.kubelet.cpu_manager.shared(),
            "keep": self.kubelet.host_paths(),
        }
        spec_file = self.dir / f"{spec['name']}.launch.json"
        spec_file.write_text(json.dumps(launch))
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
        with self.log_path(spec["name"]).open("ab") as log_file:
            state.process = await asyncio.create_subprocess_exec(
                *argv,
                stdout=log_file,
                stderr=log_file,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
        state.started_at = now_rfc3339()
        state.waiting_reason = state.waiting_message = None
        state.ready = False
        state.started = "startupProbe" not in spec
        self.mark_dirty()
        await self.kubelet.event(self.pod, "Started", f"Started container {spec['name']}")
        return None

    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": "/root",
            "HOSTNAME": (self.pod.get("spec") or {}).get("hostname") or self.name,
            **self.kubelet.network.master_service_env(),
            **self.kubelet.image_env(container.get("image", "")),
        }
        env = container_env(
            self.pod,
            container,
            objects=self._objects,
            pod_ip=self.ip,
            host_ip=self.host_ip,
            allocatable=self.kubelet.allocatable,
        )
        return base | env

    async def _supervise(self, state: ContainerState) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        backoff = self.kubelet.restart_backoff
        while not self.stopping:
            await self._launch(state)
            if state.process is None:
                return
            began = time.monotonic()
            state.exit_code = await state.process.wait()
            state.finished_at = now_rfc3339()
            state.ready = False
            if self.is_stopping():  # terminate() may have run while we awaited the exit
                return
            state.last_terminated = _terminated(state)
            if policy == "Never" or (policy == "OnFailure" and state.exit_code == 0):
                self.mark_dirty()
                return
            if time.monotonic() - began > 600:
                backoff = self.kubelet.restart_backoff
            state.waiting_reason = "CrashLoopBackOff"
            state.waiting_message = (
                f"back-off {backoff:.0f}s restarting failed container={state.spec['name']}"
            )
            self.mark_dirty()
            await self.kubelet.event(
                self.pod, "BackOff", "Back-off restarting failed container", warning=True
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.kubelet.max_backoff)
            state.restarts += 1

    async def _probe(self, state: ContainerState) -> None:
        """Startup probe until it succeeds, then readiness and liveness, each on its own period."""
        spec = state.spec
        startup, readiness, liveness = (
            spec.get("startupProbe"),
            spec.get("readinessProbe"),
            spec.get("livenessProbe"),
        )
        failures = {"startup": 0, "readiness": 0, "liveness": 0}
        successes = {"readiness": 0}
        next_run = {"startup": 0.0, "readiness": 0.0, "liveness": 0.0}
        while not self.stopping:
            if not state.running:
                failures = dict.fromkeys(failures, 0)
                for key in next_run:
                    next_run[key] = 0.0
                await asyncio.sleep(0.1)
                continue
            age = _age(state.started_at)
            now = time.monotonic()
            if not state.started and startup is not None:
                if age >= float(startup.get("initialDelaySeconds", 0)) and now >= next_run["startup"]:
                    next_run["startup"] = now + float(startup.get("periodSeconds", 10))
                    if await self._check(startup, state):
                        state.started = True
                        self.mark_dirty()
                    else:
                        failures["startup"] += 1
                        if failures["startup"] >= int(startup.get("failureThreshold", 3)):
                            await self.kubelet.event(
                                self.pod, "Unhealthy", "Startup probe failed", warning=True
                            )
                            self._signal(state, signal.SIGKILL)
                await asyncio.sleep(0.05)
                continue
            if readiness is None:
                if not state.ready:
                    state.ready = True
                    self.mark_dirty()
            elif age >= float(readiness.get("initialDelaySeconds", 0)) and now >= next_run["readiness"]:
                next_run["readiness"] = now + float(readiness.get("periodSeconds", 10))
                if await self._check(readiness, state):
                    failures["readiness"] = 0
                    successes["readiness"] += 1
                    if not state.ready and successes["readiness"] >= int(
                        readiness.get("successThreshold", 1)
                    ):
                        state.ready = True
                        self.mark_dirty()
                else:
                    successes["readiness"] = 0
                    failures["readiness"] += 1
                    if state.ready and failures["readiness"] >= int(readiness.get("failureThreshold", 3)):
                        state.ready = False
                        self.mark_dirty()
            if (
                liveness is not None
                and age >= float(liveness.get("initialDelaySeconds", 0))
                and now >= next_run["liveness"]
            ):
                next_run["liveness"] = now + float(liveness.get("periodSeconds", 10))
                if await self._check(liveness, state):
                    failures["liveness"] = 0
                else:
                    failures["liveness"] += 1
                    if failures["liveness"] >= int(liveness.get("failureThreshold", 3)):
                        failures["liveness"] = 0
                        await self.kubelet.event(
                            self.pod,
                            "Unhealthy",
                            "Liveness probe failed; container will be restarted",
                            warning=True,
                        )
                        self._signal(state, signal.SIGTERM)
            await asyncio.sleep(0.05)

    async def _check(self, probe: dict[str, Any], state: ContainerState) -> bool:
        pid = state.process.pid if state.process is not None else None
        try:
            env = self._env(state.spec)
        except SpecError:
            env = {}
        return await probes.run_probe(probe, self.ip, state.spec, pid=pid, env=env)

    def _signal(self, state: ContainerState, signum: int) -> None:
        if state.process is not None and state.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state.process.pid, signum)

    def pids(self) -> list[int]:
        return [s.process.pid for s in self.init_containers + self.containers if s.running and s.process]

    # -- ending --------------------------------------------------------------------------------
    async def terminate(self, grace: float) -> None:
        """preStop hooks, SIGTERM, the grace period, SIGKILL: the kubelet's order."""
        self.stopping = True
        deadline = time.monotonic() + grace
        hooks = [s for s in self.containers if s.running and (s.spec.get("lifecycle") or {}).get("preStop")]
        if hooks:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace, 0.01)):
                    await asyncio.gather(*(self._pre_stop(s) for s in hooks))
        everything = self.init_containers + self.containers
        for state in everything:
            self._signal(state, signal.SIGTERM)
        for state in everything:
            if state.process is None:
                continue
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.01)):
                    await state.process.wait()
            except TimeoutError:
                self._signal(state, signal.SIGKILL)
                await state.process.wait()
            if state.exit_code is None or state.finished_at is None:
                state.exit_code, state.finished_at = state.process.returncode, now_rfc3339()
        for task in self.tasks:
            task.cancel()

    async def _pre_stop(self, state: ContainerState) -> None:
        hook = state.spec["lifecycle"]["preStop"]
        if "exec" in hook:
            await probes.run_probe(
                {"exec": hook["exec"], "timeoutSeconds": 3600},
                self.ip,
                state.spec,
                pid=state.process.pid if state.process else None,
                env=self._env(state.spec),
            )
        elif "httpGet" in hook:
            await probes.run_probe({"httpGet": hook["httpGet"], "timeoutSeconds": 3600}, self.ip, state.spec)
        elif "sleep" in hook:
            await asyncio.sleep(float(hook["sleep"].get("seconds", 0)))

    # -- status --------------------------------------------------------------------------------
    def mark_dirty(self) -> None:
        self._status_dirty.set()

    async def _status_writer(self) -> None:
        while True:
            await self._status_dirty.wait()
            self._status_dirty.clear()
            await self.write_status()
            await asyncio.sleep(0.05)

    async def write_status(self, *, final: bool = False) -> None:
        status = self.status(final=final)
        if status == self._last_status:
            return
        try:
            await self.kubelet.client.request(
                "PATCH",
                self.path + "/status",
                body={"metadata": {"uid": self.uid}, "status": status},
                content_type="application/strategic-merge-patch+json",
            )
            self._last_status = status
        except KubeError as exc:
            if exc.status not in (404, 409):
                log.warning("pod %s/%s status: %s", self.namespace, self.name, exc)

    def status(self, *, final: bool = False) -> dict[str, Any]:
        statuses = [_container_status(s, self, initialized=self.initialized) for s in self.containers]
        init_statuses = [_container_status(s, self, initialized=True) for s in self.init_containers]
        all_ready = bool(statuses) and all(s["ready"] for s in statuses) and not final
        phase = "Running" if self.initialized and any(s.started_at for s in self.containers) else "Pending"
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        exited = [s for s in self.containers if s.exit_code is not None and not s.running]
        if self.failed:
            phase = "Failed"
        elif (final or policy != "Always") and self.containers and len(exited) == len(self.containers):
            codes = [s.exit_code for s in exited]
            phase = "Succeeded" if all(code == 0 for code in codes) and policy != "Always" else "Failed"
        old = {c.get("type"): c for c in (self.pod.get("status") or {}).get("conditions") or []}
        stamp = now_rfc3339()

        def condition(kind: str, value: bool) -> dict[str, Any]:
            status = "True" if value else "False"
            previous = old.get(kind) or {}
            since = previous.get("lastTransitionTime") if previous.get("status") == status else stamp
            return {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": since}

        result: dict[str, Any] = {
            "phase": phase,
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "hostIP": self.host_ip,
            "hostIPs": [{"ip": self.host_ip}],
            "startTime": (self.pod.get("status") or {}).get("startTime") or stamp,
            "observedGeneration": self.pod["metadata"].get("generation", 1),
            "containerStatuses": statuses,
            "conditions": [
                condition("PodReadyToStartContainers", self.volumes_ready and not final),
                condition("Initialized", self.initialized),
                condition("Ready", all_ready),
                condition("ContainersReady", all_ready),
            ],
        }
        if init_statuses:
            result["initContainerStatuses"] = init_statuses
        return result


def _age(started_at: str | None) -> float:
    if not started_at:
        return 0.0
    started = datetime.datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    return (datetime.datetime.now(datetime.UTC) - started).total_seconds()


def _container_id(runtime: PodRuntime, state: ContainerState) -> str:
    return f"hive://{runtime.uid}/{state.spec['name']}/{state.restarts}"


def _terminated(state: ContainerState) -> dict[str, Any]:
    code = state.exit_code if state.exit_code is not None else 0
    if code < 0:  # killed by a signal: a shell would report 128 + signal
        code = 128 - code
    return {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": state.started_at,
            "finishedAt": state.finished_at,
        }
    }


def _container_status(state: ContainerState, runtime: PodRuntime, *, initialized: bool) -> dict[str, Any]:
    if state.running:
        current: dict[str, Any] = {"running": {"startedAt": state.started_at}}
    elif state.waiting_reason:
        current = {"waiting": {"reason": state.waiting_reason}}
        if state.waiting_message:
            current["waiting"]["message"] = state.waiting_message
    elif state.exit_code is not None:
        current = _terminated(state)
    else:
        current = {"waiting": {"reason": "ContainerCreating" if initialized else "PodInitializing"}}
    image = state.spec.get("image", "")
    result: dict[str, Any] = {
        "name": state.spec["name"],
        "image": image,
        "imageID": f"hive-testbed://{image}",
        "ready": state.ready,
        "started": state.running and state.started,
        "restartCount": state.restarts,
        "state": current,
        "lastState": state.last_terminated or {},
    }
    if state.started_at:
        result["containerID"] = _container_id(runtime, state)
    return result
