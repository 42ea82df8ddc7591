"""The real kubectl, run against a kubeconfig, with the waits tests and the demo need.

Everything that checks the bed from outside goes through kubectl (or raw HTTP with the kubeconfig's
credentials), so the same checks run unchanged against any real cluster.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from hive_testbed import k8sbuild

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], *, seconds: float = 30.0, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {seconds:.0f} s")
        time.sleep(0.25)


@dataclasses.dataclass
class Kubectl:
    kubeconfig: Path
    cache_dir: Path
    binary: Path = dataclasses.field(default_factory=lambda: k8sbuild.binary("kubectl"))

    def _env(self) -> dict[str, str]:
        return dict(os.environ, KUBECONFIG=str(self.kubeconfig), KUBECACHEDIR=str(self.cache_dir))

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env(),
        )

    def apply(self, namespace: str, documents: list[dict[str, Any]]) -> None:
        self("apply", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(documents))

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)

    def pods(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", "pods", "-n", namespace] + (["-l", selector] if selector else [])
        return list(self.json(*args)["items"])

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return list(self.json("get", "events", "-n", namespace)["items"])


def is_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def ready_pods(kubectl: Kubectl, namespace: str, selector: str, count: int) -> list[dict[str, Any]] | None:
    pods = [p for p in kubectl.pods(namespace, selector) if not p["metadata"].get("deletionTimestamp")]
    ready = [p for p in pods if is_ready(p)]
    return ready if len(ready) == count and len(pods) == count else None
