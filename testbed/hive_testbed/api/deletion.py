"""How a delete request becomes a removal or a mark: preconditions, propagation, deletionTimestamp.

Split out of :mod:`hive_testbed.api.core` so that ``ApiCore.delete`` reads as the decision (remove
now, or mark and let finalizers, the garbage collector or the node agent finish) while the rules
live here as plain functions: the uid/resourceVersion preconditions (409), the finalizers a
propagation policy adds (``foregroundDeletion``, ``orphan``), namespaces with content, and the
marked object with ``deletionTimestamp`` and ``deletionGracePeriodSeconds``.
"""

from __future__ import annotations

import copy
from typing import Any

from hive_testbed.api import errors
from hive_testbed.api.resources import ResourceType


def check_preconditions(
    rtype: ResourceType, name: str, meta: dict[str, Any], options: dict[str, Any]
) -> None:
    """409 when ``DeleteOptions.preconditions`` name another uid or resourceVersion."""
    preconditions = options.get("preconditions") or {}
    if preconditions.get("uid") and preconditions["uid"] != meta.get("uid"):
        raise errors.conflict(
            rtype.plural,
            name,
            group=rtype.group,
            why=f"Precondition failed: UID in precondition: {preconditions['uid']}, "
            f"UID in object meta: {meta.get('uid')}",
        )
    if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta["resourceVersion"]:
        raise errors.conflict(
            rtype.plural, name, group=rtype.group, why="Precondition failed: the object has been modified"
        )


def deletion_finalizers(meta: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The object's finalizers plus the one its propagation policy needs (Foreground, Orphan)."""
    policy = options.get("propagationPolicy")
    if options.get("orphanDependents") is True:
        policy = "Orphan"
    finalizers = list(meta.get("finalizers") or [])
    if policy == "Foreground" and "foregroundDeletion" not in finalizers:
        finalizers.append("foregroundDeletion")
    if policy == "Orphan" and "orphan" not in finalizers:
        finalizers.append("orphan")
    return finalizers


def has_namespace_content(rtype: ResourceType, obj: dict[str, Any]) -> bool:
    """A namespace whose ``spec.finalizers`` say its content must be deleted first."""
    return rtype.group_key == ("", "namespaces") and bool((obj.get("spec") or {}).get("finalizers"))


def marked_for_deletion(
    current: dict[str, Any],
    finalizers: list[str],
    *,
    deletion_timestamp: str,
    grace: int,
    terminating_namespace: bool,
) -> dict[str, Any]:
    """A copy of ``current`` marked as being deleted (a namespace also gets phase ``Terminating``)."""
    marked = copy.deepcopy(current)
    marked["metadata"]["finalizers"] = finalizers
    marked["metadata"]["deletionTimestamp"] = deletion_timestamp
    marked["metadata"]["deletionGracePeriodSeconds"] = grace
    if terminating_namespace:
        marked.setdefault("status", {})["phase"] = "Terminating"
    return marked
