"""``hive dev up`` / ``hive dev down``: the test bed as a long-running local process.

In the foreground it serves until SIGINT/SIGTERM. With ``background=True`` it re-launches itself
detached, waits until the API answers, and leaves a pid file so ``hive dev down`` can stop it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from hive_testbed.testbed import serve


@dataclasses.dataclass(frozen=True)
class DevOptions:
    state_dir: Path
    kubeconfig: Path
    host: str = "127.0.0.1"
    port: int = 16443
    crds_dir: Path | None = None
    node: bool = True
    images: tuple[tuple[str, str], ...] = ()  # (image name, command line with optional {tag})

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "testbed.pid"

    @property
    def ready_file(self) -> Path:
        return self.state_dir / "testbed.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "testbed.log"


def next_steps(kubeconfig: Path, url: str, crds_installed: list[str]) -> str:
    lines = [
        f"Hive test bed API ready at {url}",
        f"  kubeconfig: {kubeconfig}",
    ]
    if crds_installed:
        lines.append(f"  installed {len(crds_installed)} CRD object(s) from crds/")
    else:
        lines.append("  no CRDs installed (none found in crds/); run: kubectl apply -f crds/")
    lines += [
        "  node agent: runs pods as local processes on loopback addresses (needs root for mount namespaces)",
        "Next:",
        f"  export KUBECONFIG={kubeconfig}",
        "  kubectl get namespaces",
        "  kubectl apply -f manifests/   # or your own objects",
        "Stop with Ctrl-C (or `hive dev down` when started with --background).",
    ]
    return "\n".join(lines)


async def run_foreground(options: DevOptions, *, announce: bool = True) -> None:
    """Serve until SIGINT/SIGTERM; writes the ready file once the API answers."""
    options.state_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(
        workdir=options.state_dir,
        host=options.host,
        port=options.port,
        kubeconfig=options.kubeconfig,
        node_root=options.state_dir / "node" if options.node else None,
        images={name: shlex.split(command) for name, command in options.images},
    ) as running:
        installed: list[str] = []
        if options.crds_dir is not None and options.crds_dir.is_dir():
            installed = running.install_crds(options.crds_dir)
        options.pid_file.write_text(f"{os.getpid()}\n")
        options.ready_file.write_text(
            json.dumps(
                {
                    "url": running.url,
                    "kubeconfig": str(running.kubeconfig),
                    "pid": os.getpid(),
                    "crds": installed,
                }
            )
        )
        if announce:
            print(next_steps(running.kubeconfig, running.url, installed), flush=True)
        await stop.wait()
    with contextlib.suppress(FileNotFoundError):
        options.ready_file.unlink()
    with contextlib.suppress(FileNotFoundError):
        options.pid_file.unlink()


def start_background(options: DevOptions, argv: list[str], *, timeout: float = 15.0) -> dict[str, object]:
    """Launch ``argv`` (a foreground ``hive dev up``) detached and wait for its ready file."""
    options.state_dir.mkdir(parents=True, exist_ok=True)
    if is_running(options):
        raise RuntimeError(f"a test bed is already running (pid file {options.pid_file})")
    with contextlib.suppress(FileNotFoundError):
        options.ready_file.unlink()
    with options.log_file.open("ab") as log:
        child = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if options.ready_file.exists():
            info: dict[str, object] = json.loads(options.ready_file.read_text())
            return info
        if child.poll() is not None:
            raise RuntimeError(f"the test bed exited early; see {options.log_file}")
        time.sleep(0.05)
    child.terminate()
    raise TimeoutError(f"the test bed did not become ready in {timeout}s; see {options.log_file}")


def is_running(options: DevOptions) -> bool:
    pid = _read_pid(options)
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _read_pid(options: DevOptions) -> int | None:
    try:
        return int(options.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def stop_background(options: DevOptions, *, timeout: float = 10.0) -> bool:
    """SIGTERM the test bed named by the pid file; returns whether one was running."""
    pid = _read_pid(options)
    if pid is None or not is_running(options):
        with contextlib.suppress(FileNotFoundError):
            options.pid_file.unlink()
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        options.pid_file.unlink()
    return True


def wait_ready(url: str, timeout: float = 5.0) -> float:
    """Seconds until ``/readyz`` answers (used by the start-up measurement)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - began
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(url)


def foreground_argv(options: DevOptions) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "hive_cli.main",
        "dev",
        "up",
        "--state-dir",
        str(options.state_dir),
        "--kubeconfig",
        str(options.kubeconfig),
        "--host",
        options.host,
        "--port",
        str(options.port),
    ]
    if options.crds_dir is not None:
        argv += ["--crds", str(options.crds_dir)]
    else:
        argv += ["--no-crds"]
    if not options.node:
        argv += ["--no-node"]
    for name, command in options.images:
        argv += ["--image", f"{name}={command}"]
    return argv
