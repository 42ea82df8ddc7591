"""Pod volumes as files, laid out as the kubelet does.

configMap, secret, projected (with service-account tokens) and downwardAPI volumes are sets of
files republished atomically (the kubelet's ``..data`` symlink swap) whenever their sources change;
emptyDir lives with the pod and PVC-backed volumes are the bound PersistentVolume's directory.
:func:`volume_files` is pure: the node agent fetches the objects and tokens it names.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from hive_testbed.node.spec import SpecError, field_value, object_data, resource_value


def _items(
    data: dict[str, bytes], items: list[dict[str, Any]] | None, *, what: str, optional: bool
) -> dict[str, bytes]:
    if not items:
        return dict(data)
    files: dict[str, bytes] = {}
    for item in items:
        if item["key"] not in data:
            if optional:
                continue
            raise SpecError(f"{what}: key {item['key']!r} not found")
        files[item["path"]] = data[item["key"]]
    return files


def _object_files(
    kind: str,
    name: str,
    items: list[dict[str, Any]] | None,
    optional: bool,
    objects: dict[tuple[str, str], dict[str, Any] | None],
) -> dict[str, bytes]:
    obj = objects.get((kind, name))
    if obj is None:
        if optional:
            return {}
        raise SpecError(f'{kind} "{name}" not found')
    return _items(object_data(obj, secret=kind == "secret"), items, what=f"{kind} {name}", optional=optional)


def _downward_files(
    pod: dict[str, Any],
    items: list[dict[str, Any]],
    *,
    pod_ip: str,
    host_ip: str,
    allocatable: dict[str, str],
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    containers = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
    for item in items:
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
        else:
            ref = item["resourceFieldRef"]
            container = containers.get(ref.get("containerName", ""), {})
            value = resource_value(container, ref["resource"], ref.get("divisor"), allocatable=allocatable)
        files[item["path"]] = value.encode()
    return files


def volume_files(
    pod: dict[str, Any],
    volume: dict[str, Any],
    *,
    objects: dict[tuple[str, str], dict[str, Any] | None],
    tokens: dict[tuple[str, int | None], str],
    pod_ip: str,
    host_ip: str,
    allocatable: dict[str, str],
) -> tuple[dict[str, bytes], int] | None:
    """The files of a configMap/secret/projected/downwardAPI volume and their mode, else None.
    ``tokens`` maps ``(audience, expirationSeconds)`` to a service-account token already requested."""
    if "configMap" in volume:
        source = volume["configMap"]
        files = _object_files(
            "configmap", source["name"], source.get("items"), bool(source.get("optional")), objects
        )
        return files, int(source.get("defaultMode", 0o644))
    if "secret" in volume:
        source = volume["secret"]
        files = _object_files(
            "secret", source["secretName"], source.get("items"), bool(source.get("optional")), objects
        )
        return files, int(source.get("defaultMode", 0o644))
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        files = _downward_files(
            pod, source.get("items") or [], pod_ip=pod_ip, host_ip=host_ip, allocatable=allocatable
        )
        return files, int(source.get("defaultMode", 0o644))
    if "projected" in volume:
        files = {}
        for source in volume["projected"].get("sources") or []:
            if "secret" in source:
                s = source["secret"]
                files.update(
                    _object_files("secret", s["name"], s.get("items"), bool(s.get("optional")), objects)
                )
            elif "configMap" in source:
                c = source["configMap"]
                files.update(
                    _object_files("configmap", c["name"], c.get("items"), bool(c.get("optional")), objects)
                )
            elif "downwardAPI" in source:
                files.update(
                    _downward_files(
                        pod,
                        source["downwardAPI"].get("items") or [],
                        pod_ip=pod_ip,
                        host_ip=host_ip,
                        allocatable=allocatable,
                    )
                )
            elif "serviceAccountToken" in source:
                t = source["serviceAccountToken"]
                key = (str(t.get("audience") or ""), t.get("expirationSeconds"))
                files[t["path"]] = tokens[key].encode()
        return files, int(volume["projected"].get("defaultMode", 0o644))
    return None


def token_requests(pod: dict[str, Any]) -> set[tuple[str, int | None]]:
    """``(audience, expirationSeconds)`` of every projected service-account token the pod mounts."""
    wanted: set[tuple[str, int | None]] = set()
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" in source:
                t = source["serviceAccountToken"]
                wanted.add((str(t.get("audience") or ""), t.get("expirationSeconds")))
    return wanted


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
