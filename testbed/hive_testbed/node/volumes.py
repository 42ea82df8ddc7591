"""Pod volumes as directories and files, as the kubelet lays them out.

emptyDir lives with the pod; a PVC's directory is keyed by namespace and claim name so it survives
the pod; configMap, secret and projected volumes are files rewritten in place when the objects
change. The hosts file gives every pod the DNS names of its peers under their headless services.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from hive_testbed.api.core import ApiCore


def _write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    with path.open("wb") as handle:  # in place: bind mounts of single files keep seeing the same inode
        handle.write(data)
    path.chmod(mode)


def _source_files(
    core: ApiCore, namespace: str, source: dict[str, Any], *, secret: bool
) -> dict[str, bytes] | None:
    name = source.get("secretName" if secret else "name")
    obj = core.store.get(("", "secrets" if secret else "configmaps"), namespace, str(name))
    if obj is None:
        return None
    raw: dict[str, bytes] = {}
    for key, value in (obj.get("data") or {}).items():
        raw[key] = base64.b64decode(value) if secret else str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        raw[key] = base64.b64decode(value)
    items = source.get("items")
    if items:
        return {item["path"]: raw[item["key"]] for item in items if item["key"] in raw}
    return raw


def sync_volume(
    core: ApiCore, pod: dict[str, Any], volume: dict[str, Any], *, pod_dir: Path, pvc_root: Path
) -> Path:
    """Create or refresh one volume; returns the host directory that backs it."""
    namespace: str = pod["metadata"]["namespace"]
    name: str = volume["name"]
    if "persistentVolumeClaim" in volume:
        path = pvc_root / namespace / str(volume["persistentVolumeClaim"]["claimName"])
        path.mkdir(parents=True, exist_ok=True)
        return path
    path = pod_dir / "volumes" / name
    path.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    mode = 0o644
    if "configMap" in volume:
        files = _source_files(core, namespace, volume["configMap"], secret=False) or {}
    elif "secret" in volume:
        files = _source_files(core, namespace, volume["secret"], secret=True) or {}
        mode = int(volume["secret"].get("defaultMode", 0o600))
    elif "projected" in volume:
        for source in volume["projected"].get("sources") or []:
            if "secret" in source:
                files.update(
                    _source_files(
                        core,
                        namespace,
                        {"secretName": source["secret"]["name"], "items": source["secret"].get("items")},
                        secret=True,
                    )
                    or {}
                )
            elif "configMap" in source:
                files.update(_source_files(core, namespace, source["configMap"], secret=False) or {})
    for relative, data in files.items():
        _write_if_changed(path / relative, data, mode)
    return path


def hosts_file(
    pod: dict[str, Any], peers: list[dict[str, Any]], services: list[dict[str, Any]] | None = None
) -> bytes:
    """``/etc/hosts`` for a pod: itself, every peer's ``<host>.<subdomain>.<ns>.svc.cluster.local``,
    each ClusterIP service's name at its (loopback) cluster IP, and each headless service's name once
    per ready selected pod (what cluster DNS answers for it)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for peer in [pod, *[p for p in peers if p["metadata"]["uid"] != pod["metadata"]["uid"]]]:
        ip = (peer.get("status") or {}).get("podIP")
        spec = peer.get("spec") or {}
        hostname = spec.get("hostname") or peer["metadata"]["name"]
        if not ip:
            continue
        names = [hostname]
        if spec.get("subdomain"):
            base = f"{hostname}.{spec['subdomain']}.{peer['metadata']['namespace']}"
            names = [f"{base}.svc.cluster.local", f"{base}.svc", base, *names]
        lines.append(f"{ip}\t{' '.join(names)}")
    for service in services or []:
        spec = service.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector:
            continue
        base = f"{service['metadata']['name']}.{service['metadata']['namespace']}"
        if spec.get("clusterIP") not in (None, "", "None"):
            lines.append(f"{spec['clusterIP']}\t{base}.svc.cluster.local {base}.svc {base}")
            if service["metadata"]["namespace"] == pod["metadata"]["namespace"]:
                lines[-1] += f" {service['metadata']['name']}"
            continue
        for peer in peers:
            labels = peer["metadata"].get("labels") or {}
            ip = (peer.get("status") or {}).get("podIP")
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (peer.get("status") or {}).get("conditions") or []
            )
            if (
                ip
                and all(labels.get(k) == v for k, v in selector.items())
                and (ready or spec.get("publishNotReadyAddresses"))
            ):
                lines.append(f"{ip}\t{base}.svc.cluster.local {base}.svc {base}")
    return ("\n".join(lines) + "\n").encode()
