"""Field ownership (``metadata.managedFields``) and server-side apply.

Every write records which manager last set which fields (``operation: Update``); an apply
(``application/apply-patch+yaml``) owns exactly the fields of its configuration: it reports a 409
conflict when it would change a field another manager owns (unless ``force``), and removes fields it
applied before but no longer lists. Field paths use the ``fieldsV1`` notation (``f:spec``,
``k:{"name":"app"}``) so kubectl shows them as on a real cluster. Lists without a merge key are atomic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

from hive_testbed.api import errors, patching
from hive_testbed.api.resources import ResourceType

Path = tuple[str, ...]
_IDENTITY_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "generateName",
    }
)
_ABSENT = object()


def _item_key(field: str, item: dict[str, Any], builtin: bool) -> str | None:
    if not builtin:
        return None
    key = patching._merge_key(field, [item])
    if key is None or key not in item:
        return None
    return "k:" + json.dumps({key: item[key]}, separators=(",", ":"))


def field_paths(obj: dict[str, Any], *, builtin: bool, subresource: str | None = None) -> set[Path]:
    """Leaf paths of an object's managed fields (identity metadata, apiVersion and kind excluded)."""
    paths: set[Path] = set()
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if (key == "status") != (subresource == "status"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key, meta_value in value.items():
                if meta_key not in _IDENTITY_META:
                    paths |= set(_walk(meta_value, ("f:metadata", f"f:{meta_key}"), meta_key, builtin))
            continue
        paths |= set(_walk(value, (f"f:{key}",), key, builtin))
    return paths


def _walk(value: Any, prefix: Path, field: str, builtin: bool) -> Iterator[Path]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _walk(child, (*prefix, f"f:{key}"), key, builtin)
    elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        keys = [_item_key(field, item, builtin) for item in value]
        if all(keys):
            for item, item_key in zip(value, keys, strict=True):
                assert item_key is not None
                yield (*prefix, item_key, ".")
                for key, child in item.items():
                    yield from _walk(child, (*prefix, item_key, f"f:{key}"), key, builtin)
            return
        yield prefix
    else:
        yield prefix


def value_at(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part == ".":
            return node
        if part.startswith("f:"):
            if not isinstance(node, dict) or part[2:] not in node:
                return _ABSENT
            node = node[part[2:]]
        else:
            wanted = json.loads(part[2:])
            if not isinstance(node, list):
                return _ABSENT
            node = next(
                (i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())),
                _ABSENT,
            )
            if node is _ABSENT:
                return _ABSENT
    return node


def _remove_at(obj: Any, path: Path) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    parent = value_at(obj, path[:-1]) if len(path) > 1 else obj
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        wanted = json.loads(last[2:])
        parent[:] = [
            i for i in parent if not (isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items()))
        ]


def encode(paths: set[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(paths):
        node = root
        for part in path:
            node = node.setdefault(part, {})
    return root


def decode(fields: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in (fields or {}).items():
        if key == ".":
            paths.add((*prefix, "."))
        elif isinstance(child, dict) and child:
            paths |= decode(child, (*prefix, key))
        else:
            paths.add((*prefix, key))
    return paths


def _entries(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _store_entries(obj: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    kept = [e for e in entries if e.get("fieldsV1")]
    meta = obj.setdefault("metadata", {})
    if kept:
        meta["managedFields"] = kept
    else:
        meta.pop("managedFields", None)


def _entry(
    entries: list[dict[str, Any]], manager: str, operation: str, subresource: str | None
) -> dict[str, Any]:
    for entry in entries:
        if (entry.get("manager"), entry.get("operation"), entry.get("subresource")) == (
            manager,
            operation,
            subresource,
        ):
            return entry
    entry = {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": {}}
    if subresource:
        entry["subresource"] = subresource
    entries.append(entry)
    return entry


def record_update(
    new: dict[str, Any], old: dict[str, Any] | None, *, manager: str, operation: str, now: str, builtin: bool
) -> None:
    """Give ``manager`` the fields this write changed and take them away from everybody else."""
    entries = [copy.deepcopy(e) for e in _entries(old or {})]
    for subresource in (None, "status"):
        new_paths = field_paths(new, builtin=builtin, subresource=subresource)
        old_paths = field_paths(old, builtin=builtin, subresource=subresource) if old else set()
        changed = {p for p in new_paths if old is None or value_at(old, p) != value_at(new, p)}
        gone = old_paths - new_paths
        if not changed and not gone:
            continue
        for entry in entries:
            owned = decode(entry.get("fieldsV1") or {}) - changed - gone
            entry["fieldsV1"] = encode(owned)
        if changed:
            mine = _entry(entries, manager, operation, subresource)
            mine["fieldsV1"] = encode(decode(mine.get("fieldsV1") or {}) | changed)
            mine["time"] = now
            mine["apiVersion"] = new.get("apiVersion", "")
    _store_entries(new, entries)


def record_apply_create(
    obj: dict[str, Any], config: dict[str, Any], *, manager: str, now: str, rtype: ResourceType
) -> None:
    """An apply that creates the object owns exactly its configuration's fields (not the defaults)."""
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": rtype.api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": encode(field_paths(config, builtin=rtype.builtin)),
    }
    _store_entries(obj, [entry])


def validate_config(rtype: ResourceType, config: Any, name: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise errors.bad_request("the apply configuration must be an object")
    if config.get("kind") != rtype.kind or config.get("apiVersion") != rtype.api_version:
        raise errors.bad_request(
            f"the apply configuration must have apiVersion {rtype.api_version} and kind {rtype.kind}"
        )
    config_name = (config.get("metadata") or {}).get("name")
    if config_name != name:
        raise errors.bad_request("the name of the apply configuration does not match the name on the URL")
    return config


def strip_directives(config: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(config)


def _render(path: Path) -> str:
    parts = []
    for part in path:
        if part == ".":
            continue
        parts.append("." + part[2:] if part.startswith("f:") else f"[{part[2:]}]")
    return "".join(parts)


def server_side_apply(
    rtype: ResourceType,
    current: dict[str, Any],
    config: dict[str, Any],
    *,
    manager: str,
    force: bool,
    subresource: str | None,
    now: str,
) -> dict[str, Any]:
    """The object after ``manager`` applied ``config`` to ``current`` (raises 409 on conflicts)."""
    builtin = rtype.builtin
    applied = field_paths(config, builtin=builtin, subresource=subresource)
    entries = [copy.deepcopy(e) for e in _entries(current)]
    conflicts: list[tuple[str, Path]] = []
    for entry in entries:
        if entry.get("manager") == manager or entry.get("subresource") != subresource:
            continue
        owned = decode(entry.get("fieldsV1") or {})
        for path in sorted(applied & owned):
            if path[-1] != "." and value_at(current, path) != value_at(config, path):
                conflicts.append((str(entry.get("manager")), path))
    if conflicts and not force:
        causes = [
            {"reason": "FieldManagerConflict", "message": f'conflict with "{who}"', "field": _render(path)}
            for who, path in conflicts
        ]
        listing = "\n".join(f"- {c['message']}: {c['field']}" for c in causes)
        raise errors.ApiError(
            409,
            "Conflict",
            f"Apply failed with {len(causes)} conflict{'s' if len(causes) > 1 else ''}: {listing}",
            details={"causes": causes, "name": current["metadata"]["name"], "kind": rtype.plural},
        )
    conflicting = {path for _, path in conflicts}
    previous_apply = next(
        (
            e
            for e in entries
            if (e.get("manager"), e.get("operation"), e.get("subresource")) == (manager, "Apply", subresource)
        ),
        None,
    )
    previously = decode(previous_apply.get("fieldsV1") or {}) if previous_apply else set()
    others: set[Path] = set()
    for entry in entries:
        if entry is previous_apply:
            continue
        owned = decode(entry.get("fieldsV1") or {})
        if entry.get("manager") != manager:
            owned -= conflicting
        entry["fieldsV1"] = encode(owned)
        others |= owned
    result = copy.deepcopy(current)
    for path in sorted(previously - applied - others, key=len, reverse=True):
        _remove_at(result, path)
    body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind")}
    body["metadata"] = {k: v for k, v in (config.get("metadata") or {}).items() if k not in _IDENTITY_META}
    if subresource == "status":
        body = {"status": config.get("status", {})}
    merged = patching.strategic_merge_patch(result, body) if builtin else patching.merge_patch(result, body)
    mine = _entry(entries, manager, "Apply", subresource)
    mine["fieldsV1"] = encode(applied)
    mine["time"] = now
    mine["apiVersion"] = rtype.api_version
    _store_entries(merged, entries)
    return dict(merged)
