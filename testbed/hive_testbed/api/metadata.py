"""The metadata rules of a write: what a create assigns and what an update may not change.

Split out of :mod:`hive_testbed.api.core` so that its write paths read as orchestration (admit,
record managed fields, store, notify) while the rules a real API server applies to ``metadata``
live here as plain functions over the request and the stored object: namespace and name on create
(``generateName``, 404/403 for a missing or terminating namespace), the fields a create resets, the
resourceVersion precondition (409), which fields an update carries over from the stored object, the
status subresource split, no new finalizers while deleting (422), and what counts as a spec change
(generation) or a no-op.
"""

from __future__ import annotations

import copy
import datetime
import random
import uuid
from typing import Any

from hive_testbed.api import admission, errors
from hive_testbed.api.resources import ResourceType
from hive_testbed.api.store import Store

MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"
NO_NEW_FINALIZERS = "Forbidden: no new finalizers can be added if the object is being deleted"

# Fields an update keeps from the stored object whatever the request says.
_CARRIED_OVER = (
    "uid",
    "creationTimestamp",
    "namespace",
    "name",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but metadata and status: a change here bumps ``generation``."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without what every write changes, to detect a no-op write."""
    clean = copy.deepcopy(obj)
    meta = clean.get("metadata", {})
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return clean


# ---------------------------------------------------------------------- create
def resolve_namespace(rtype: ResourceType, requested: str | None, meta: dict[str, Any]) -> str:
    """The namespace a create goes to (``""`` for cluster-scoped kinds), written into ``meta``."""
    obj_namespace = meta.get("namespace")
    if not rtype.namespaced:
        meta.pop("namespace", None)
        return ""
    if requested and obj_namespace and obj_namespace != requested:
        raise errors.bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    namespace: str = requested or obj_namespace or "default"
    meta["namespace"] = namespace
    return namespace


def require_namespace(store: Store, namespace: str) -> None:
    """404 when the namespace does not exist, 403 when it is being terminated."""
    ns = store.get(("", "namespaces"), "", namespace)
    if ns is None:
        raise errors.not_found("namespaces", namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise errors.ApiError(
            403,
            "Forbidden",
            f"unable to create new content in namespace {namespace} because it is being terminated",
        )


def assign_name(rtype: ResourceType, meta: dict[str, Any]) -> str:
    """The name of a new object, generated from ``generateName`` if need be, and validated."""
    if not meta.get("name") and meta.get("generateName"):
        suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        meta["name"] = f"{meta['generateName']}{suffix}"
    name = meta.get("name")
    if not name:
        raise errors.invalid(
            rtype.kind,
            "",
            group=rtype.group,
            causes=[
                {
                    "reason": "FieldValueRequired",
                    "field": "metadata.name",
                    "message": "Required value: name or generateName is required",
                }
            ],
        )
    admission.validate_name(rtype, name)
    assigned: str = name
    return assigned


def init_metadata(rtype: ResourceType, obj: dict[str, Any], *, now: str) -> None:
    """Set what the server owns on a new object: type, uid, creationTimestamp, generation 1."""
    meta = obj["metadata"]
    obj["apiVersion"] = rtype.api_version
    obj["kind"] = rtype.kind
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(field, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now
    meta["generation"] = 1


# ---------------------------------------------------------------------- update
def check_resource_version(rtype: ResourceType, name: str, wanted: Any, current: dict[str, Any]) -> None:
    """409 when a write names a resourceVersion other than the stored one (none or ``""`` is any)."""
    if wanted not in (None, "") and str(wanted) != current["metadata"]["resourceVersion"]:
        raise errors.conflict(rtype.plural, name, group=rtype.group, why=MODIFIED)


def merge_update(
    rtype: ResourceType, current: dict[str, Any], wanted: dict[str, Any], *, subresource: str | None
) -> dict[str, Any]:
    """The object an update would store, before admission; ``wanted`` may be reused.

    Writes to the object keep the stored status, writes to ``/status`` change only the status; the
    server-owned metadata is carried over; an object being deleted gets no new finalizers.
    """
    old_meta = current["metadata"]
    if subresource == "status":
        if not rtype.has_status:
            raise errors.endpoint_not_found()
        new = copy.deepcopy(current)
        if "status" in wanted:
            new["status"] = wanted["status"]
        else:
            new.pop("status", None)
    elif subresource is None:
        new = wanted
        if rtype.has_status:
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
            else:
                new.pop("status", None)
    else:
        raise errors.endpoint_not_found()
    meta = new.setdefault("metadata", {}) or {}
    new["metadata"] = meta
    for field in _CARRIED_OVER:
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    meta["resourceVersion"] = old_meta["resourceVersion"]
    new["apiVersion"] = rtype.api_version
    new["kind"] = rtype.kind
    if old_meta.get("deletionTimestamp"):
        added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
        if added:
            raise errors.invalid(
                rtype.kind,
                old_meta["name"],
                group=rtype.group,
                causes=[
                    {
                        "reason": "FieldValueForbidden",
                        "field": "metadata.finalizers",
                        "message": NO_NEW_FINALIZERS,
                    }
                ],
            )
    return new
