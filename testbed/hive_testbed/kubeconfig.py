"""Writing a kubeconfig that points kubectl, kopf and the kubernetes client at the test bed."""

from __future__ import annotations

import os
from pathlib import Path

import yaml


def render_kubeconfig(url: str, *, context: str = "hive-testbed", namespace: str = "default") -> str:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": url}}],
        "users": [{"name": context, "user": {"token": "testbed"}}],
        "contexts": [
            {"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}
        ],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


def write_kubeconfig(path: Path, url: str, *, context: str = "hive-testbed") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_kubeconfig(url, context=context))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path
