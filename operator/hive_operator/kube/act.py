"""Performing the planner's actions, in order, against the API server.

- Create and Update are server-side applies with the one field manager ``hive-operator``
  (forced: a field we own that someone else changed is taken back, which is how drift is
  undone). Secrets and ConfigMaps are owned whole (their ``data``), so when the applied object
  still holds a key we did not send (put there by another manager) a JSON patch removes it,
  guarded by the ``resourceVersion`` the apply returned (a conflict means someone wrote meanwhile:
  the next reconcile looks again).
- A Pod is created by apply; afterwards only its labels and annotations can change in place, and
  those are merge-patched (an outdated pod is replaced: deleted, then created again).
- Delete uses background propagation; an object already gone is fine.
- Events are ``events.k8s.io/v1`` Events regarding the HiveCluster, with the planner's reason.
- The status is applied to the ``status`` subresource by the same field manager, so fields we
  stopped reporting are removed and ``conditions``/``members`` merge as list maps.

Every call counts as one write in :class:`Writes`, so the caller (and its metrics) can tell a
quiet reconcile from a busy one.
"""

from __future__ import annotations

import contextlib
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from hive_operator.api import API_VERSION, HiveCluster
from hive_operator.kube.client import JSON_PATCH, ApiError, Conflict, KubeApi, NotFound
from hive_operator.kube.resources import resource
from hive_operator.plan import Action, Create, Delete, Event, PatchStatus, Update
from hive_operator.specs import names_of

REPORTING_CONTROLLER = "hive.dev/operator"
_NOTE_LIMIT = 1000  # events.k8s.io/v1 refuses notes over 1 kB

Writes = Counter[str]


async def _apply_object(api: KubeApi, obj: Mapping[str, Any], writes: Writes) -> None:
    kind = str(obj["kind"])
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    path = resource(kind).path(namespace, name)
    if kind == "Pod" and "spec" not in obj:
        # A pod's labels or annotations put back: merge-patched, because applying a pod again
        # would claim its whole (mostly immutable) spec, tolerations the API server added included.
        metadata = {
            "labels": obj["metadata"].get("labels"),
            "annotations": obj["metadata"].get("annotations"),
        }
        await api.patch(path, {"metadata": metadata})
        writes["patch Pod"] += 1
        return
    applied = await api.apply(path, dict(obj))
    writes[f"apply {kind}"] += 1
    if kind in ("Secret", "ConfigMap"):
        extra = sorted(set(applied.get("data") or {}) - set(obj.get("data") or {}))
        if extra:
            patch: list[dict[str, Any]] = [
                {
                    "op": "test",
                    "path": "/metadata/resourceVersion",
                    "value": applied["metadata"]["resourceVersion"],
                }
            ]
            patch += [{"op": "remove", "path": f"/data/{_pointer(key)}"} for key in extra]
            try:
                await api.patch(path, patch, content_type=JSON_PATCH)
            except (Conflict, ApiError) as error:
                if error.status not in (409, 422):
                    raise
            writes[f"patch {kind}"] += 1


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _event_body(cluster: HiveCluster, event: Event, *, now: datetime, reporter: str) -> dict[str, Any]:
    names = names_of(cluster)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{names.cluster}.{secrets.token_hex(8)}", "namespace": names.namespace},
        "eventTime": stamp,
        "type": event.type,
        "reason": event.reason,
        "action": event.reason,
        "note": event.message[:_NOTE_LIMIT],
        "reportingController": REPORTING_CONTROLLER,
        "reportingInstance": reporter[:128],
        "regarding": {
            "apiVersion": API_VERSION,
            "kind": "HiveCluster",
            "name": names.cluster,
            "namespace": names.namespace,
            "uid": cluster.metadata.uid,
        },
    }


async def post_event(
    api: KubeApi, cluster: HiveCluster, event: Event, *, now: datetime, reporter: str, writes: Writes
) -> None:
    body = _event_body(cluster, event, now=now, reporter=reporter)
    await api.post(resource("Event").path(names_of(cluster).namespace), body)
    writes["create Event"] += 1


async def apply_status(api: KubeApi, cluster: HiveCluster, action: PatchStatus, writes: Writes) -> None:
    names = names_of(cluster)
    body = {
        "apiVersion": API_VERSION,
        "kind": "HiveCluster",
        "metadata": {"name": names.cluster, "namespace": names.namespace},
        "status": action.status.model_dump(mode="json", by_alias=True, exclude_none=True),
    }
    await api.apply(resource("HiveCluster").path(names.namespace, names.cluster, "status"), body)
    writes["apply HiveCluster/status"] += 1


async def perform(
    api: KubeApi, cluster: HiveCluster, actions: Iterable[Action], *, now: datetime, reporter: str
) -> Writes:
    """Carry out ``actions`` in order; returns the writes made, by kind of call."""
    writes: Writes = Counter()
    namespace = names_of(cluster).namespace
    for action in actions:
        if isinstance(action, Create | Update):
            await _apply_object(api, action.object, writes)
        elif isinstance(action, Delete):
            with contextlib.suppress(NotFound):
                await api.delete(resource(action.kind).path(namespace, action.name))
            writes[f"delete {action.kind}"] += 1
        elif isinstance(action, Event):
            await post_event(api, cluster, action, now=now, reporter=reporter, writes=writes)
        elif isinstance(action, PatchStatus):
            await apply_status(api, cluster, action, writes)
    return writes
