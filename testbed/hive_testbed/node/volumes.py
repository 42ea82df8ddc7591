"""Pod volumes as directories and files, as the kubelet lays them out.

emptyDir lives with the pod; a PVC's directory is keyed by namespace and claim name so it survives
the pod; configMap, secret and projected volumes are files republished atomically (the kubelet's
``..data`` symlink swap) when the objects change. The hosts file gives every pod the DNS names of
its peers and of the services in its namespace.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from hive_testbed.api.core import ApiCore


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
    if any(key in volume for key in ("configMap", "secret", "projected")):
        atomic_write(path, files, mode)
    return path


def atomic_write(directory: Path, files: dict[str, bytes], mode: int) -> None:
    """Publish ``files`` the way the kubelet's atomic writer does: a new ``..<stamp>`` directory,
    ``..data`` switched to it by one rename, and each entry a symlink through ``..data``. Readers
    never see a half-written set, and a changed file is a new inode (what reloaders watch for)."""
    current = directory / "..data"
    if current.is_dir():
        existing = {
            str(p.relative_to(current.resolve())): p.read_bytes()
            for p in current.resolve().rglob("*")
            if p.is_file()
        }
        if existing == files:
            return
    stamp = directory / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{uuid.uuid4().hex[:8]}"
    stamp.mkdir(parents=True)
    for relative, data in files.items():
        target = stamp / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)
    swap = directory / "..data_tmp"
    if swap.is_symlink():
        swap.unlink()
    os.symlink(stamp.name, swap)
    os.replace(swap, current)
    tops = {relative.split("/", 1)[0] for relative in files}
    for top in tops:
        link = directory / top
        if not link.is_symlink():
            if link.exists():
                shutil.rmtree(link) if link.is_dir() else link.unlink()
            os.symlink(f"..data/{top}", link)
    for entry in directory.iterdir():
        if entry.name.startswith("..") and entry.name not in ("..data", stamp.name) and entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        elif not entry.name.startswith("..") and entry.is_symlink() and entry.name not in tops:
            entry.unlink()


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
