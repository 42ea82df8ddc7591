"""Pure pieces of what a kubelet makes of a pod spec: quantities, env, ``$(VAR)`` expansion, fields.

Kept free of I/O so each rule is tested alone: the node agent fetches the referenced Secrets and
ConfigMaps, then these functions turn the spec into the environment, argv and downward-API values
a container sees, following the kubelet's rules (env in order, later entries may refer to earlier
ones, ``$$`` escapes, an unresolved ``$(NAME)`` stays as written; resource fields are rounded up
by their divisor, and an unset limit reads as the node's allocatable amount).
"""

from __future__ import annotations

import base64
import math
import re
from decimal import Decimal
from typing import Any

_SUFFIXES = {
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
    "Pi": Decimal(1024**5),
    "Ei": Decimal(1024**6),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


class SpecError(ValueError):
    """A reference the pod needs cannot be resolved (the kubelet reports it and does not start)."""


def parse_quantity(text: Any) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise ValueError(f"not a quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    if suffix in ("E",) and "e" in number.lower():
        raise ValueError(f"not a quantity: {text!r}")
    return Decimal(number) * _SUFFIXES[suffix]


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names are replaced, ``$$`` is a literal ``$``,
    anything else (an unknown name, an unclosed reference) stays as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    if name in env:
                        out.append(env[name])
                    else:
                        out.append(text[i : end + 1])
                    i = end + 1
                    continue
        out.append(char)
        i += 1
    return "".join(out)


def field_value(pod: dict[str, Any], path: str, *, pod_ip: str, host_ip: str) -> str:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return "" if simple[path] is None else str(simple[path])
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        values = meta.get(source) or {}
        if path == prefix:
            return "\n".join(f'{k}="{v}"' for k, v in sorted(values.items()))
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(values.get(path[len(prefix) + 2 : -2], ""))
    raise SpecError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(
    container: dict[str, Any], resource: str, divisor: Any, *, allocatable: dict[str, str]
) -> str:
    """``resourceFieldRef``: ``limits.cpu`` etc., divided by ``divisor`` and rounded up."""
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:
        value = allocatable.get(name, "0") if kind == "limits" else "0"
    quantity = parse_quantity(value)
    scale = parse_quantity(divisor or "1")
    if scale == 0:  # the API server stores an unset divisor as "0"; the kubelet reads it as 1
        scale = Decimal(1)
    return str(math.ceil(quantity / scale))


def whole_cpus(pod: dict[str, Any]) -> int:
    """CPUs the static CPU manager pins a pod to: Guaranteed QoS with integral CPUs, else 0."""
    total = Decimal(0)
    containers = (pod.get("spec") or {}).get("containers") or []
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in ("cpu", "memory"):
            if name not in limits or parse_quantity(requests.get(name, limits[name])) != parse_quantity(
                limits[name]
            ):
                return 0
        total += parse_quantity(limits["cpu"])
    return int(total) if containers and total == int(total) else 0


def object_data(obj: dict[str, Any], *, secret: bool) -> dict[str, bytes]:
    data: dict[str, bytes] = {}
    for key, value in (obj.get("data") or {}).items():
        data[key] = base64.b64decode(value) if secret else str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        data[key] = base64.b64decode(value)
    return data


def container_env(
    pod: dict[str, Any],
    container: dict[str, Any],
    *,
    objects: dict[tuple[str, str], dict[str, Any] | None],
    pod_ip: str,
    host_ip: str,
    allocatable: dict[str, str],
) -> dict[str, str]:
    """The container's environment. ``objects`` maps ``("secret"|"configmap", name)`` to the fetched
    object or None when it does not exist."""
    env: dict[str, str] = {}

    def source(kind: str, name: str, *, optional: bool) -> dict[str, bytes] | None:
        obj = objects.get((kind, name))
        if obj is None:
            if optional:
                return None
            raise SpecError(f'{kind} "{name}" not found')
        return object_data(obj, secret=kind == "secret")

    for item in container.get("envFrom") or []:
        prefix = str(item.get("prefix") or "")
        for key, ref in (("configMapRef", "configmap"), ("secretRef", "secret")):
            if key in item:
                data = source(ref, item[key]["name"], optional=bool(item[key].get("optional")))
                for name, value in (data or {}).items():
                    env[prefix + name] = value.decode()
    for item in container.get("env") or []:
        name = item["name"]
        if "valueFrom" not in item:
            env[name] = expand(str(item.get("value", "")), env)
            continue
        value_from = item["valueFrom"]
        if "fieldRef" in value_from:
            env[name] = field_value(pod, value_from["fieldRef"]["fieldPath"], pod_ip=pod_ip, host_ip=host_ip)
        elif "resourceFieldRef" in value_from:
            ref = value_from["resourceFieldRef"]
            target = container
            if ref.get("containerName"):
                target = next(
                    (
                        c
                        for c in (pod.get("spec") or {}).get("containers") or []
                        if c["name"] == ref["containerName"]
                    ),
                    container,
                )
            env[name] = resource_value(target, ref["resource"], ref.get("divisor"), allocatable=allocatable)
        else:
            for key, kind in (("configMapKeyRef", "configmap"), ("secretKeyRef", "secret")):
                if key in value_from:
                    ref = value_from[key]
                    data = source(kind, ref["name"], optional=bool(ref.get("optional")))
                    if data is None:
                        break
                    if ref["key"] not in data:
                        if ref.get("optional"):
                            break
                        raise SpecError(f"couldn't find key {ref['key']} in {kind} {ref['name']}")
                    env[name] = data[ref["key"]].decode()
    return env


def container_argv(container: dict[str, Any], env: dict[str, str], image_command: list[str]) -> list[str]:
    """argv after ``$(VAR)`` expansion: ``command`` replaces the image's entrypoint, ``args`` its args."""
    command = [expand(str(part), env) for part in container.get("command") or []]
    args = [expand(str(part), env) for part in container.get("args") or []]
    return (command or image_command) + args


def referenced_objects(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """Every ``(kind, name)`` Secret or ConfigMap the pod's env and volumes refer to."""
    refs: set[tuple[str, str]] = set()
    spec = pod.get("spec") or {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for item in container.get("envFrom") or []:
            if "configMapRef" in item:
                refs.add(("configmap", item["configMapRef"]["name"]))
            if "secretRef" in item:
                refs.add(("secret", item["secretRef"]["name"]))
        for item in container.get("env") or []:
            value_from = item.get("valueFrom") or {}
            if "configMapKeyRef" in value_from:
                refs.add(("configmap", value_from["configMapKeyRef"]["name"]))
            if "secretKeyRef" in value_from:
                refs.add(("secret", value_from["secretKeyRef"]["name"]))
    for volume in spec.get("volumes") or []:
        if "secret" in volume:
            refs.add(("secret", volume["secret"]["secretName"]))
        if "configMap" in volume:
            refs.add(("configmap", volume["configMap"]["name"]))
        for projected in (volume.get("projected") or {}).get("sources") or []:
            if "secret" in projected:
                refs.add(("secret", projected["secret"]["name"]))
            if "configMap" in projected:
                refs.add(("configmap", projected["configMap"]["name"]))
    return refs
