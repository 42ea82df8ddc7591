"""PodDisruptionBudget status and the pod eviction check, as the disruption controller computes them.

``expectedPods`` is the number of pods the budget selects, ``currentHealthy`` the Ready ones,
``desiredHealthy`` follows ``minAvailable`` or ``maxUnavailable`` (integers or percentages, rounded
up), and ``disruptionsAllowed`` is what an eviction may consume. Evictions (``pods/<name>/eviction``)
that would go below a budget are refused with 429, as on a real cluster.
"""

from __future__ import annotations

import math
from typing import Any

from hive_testbed.api import errors
from hive_testbed.api.core import ApiCore
from hive_testbed.api.resources import ResourceType
from hive_testbed.api.selectors import parse_label_selector, selector_from_label_selector_object
from hive_testbed.controllers.loop import ResyncingController
from hive_testbed.controllers.statefulset import is_ready

PDBS = ("policy", "poddisruptionbudgets")
PODS = ("", "pods")


def _scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def budget_status(core: ApiCore, pdb: dict[str, Any]) -> dict[str, Any]:
    spec = pdb.get("spec") or {}
    matches = parse_label_selector(selector_from_label_selector_object(spec.get("selector")))
    pods = [
        p
        for p in core.store.list_objects(PODS, pdb["metadata"]["namespace"])
        if matches(p) and not p["metadata"].get("deletionTimestamp")
    ]
    expected = len(pods)
    healthy = sum(1 for p in pods if is_ready(p))
    if "minAvailable" in spec:
        desired = _scaled(spec["minAvailable"], expected)
    elif "maxUnavailable" in spec:
        desired = max(expected - _scaled(spec["maxUnavailable"], expected), 0)
    else:
        desired = expected
    allowed = max(healthy - desired, 0)
    return {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if allowed else "False",
                "reason": "SufficientPods" if allowed else "InsufficientPods",
                "message": "",
                "observedGeneration": pdb["metadata"].get("generation", 1),
                "lastTransitionTime": (pdb.get("status") or {})
                .get("conditions", [{}])[0]
                .get("lastTransitionTime", pdb["metadata"].get("creationTimestamp")),
            }
        ],
    }


class DisruptionController(ResyncingController):
    watched = frozenset({PDBS, PODS})

    def reconcile_all(self) -> None:
        pdb_type = self._core.registry.storage_type(*PDBS)
        if pdb_type is None:
            return
        for pdb in self._core.store.list_objects(PDBS):
            status = budget_status(self._core, pdb)
            if status == pdb.get("status"):
                continue
            meta = pdb["metadata"]
            try:
                self._core.replace(
                    pdb_type,
                    meta["namespace"],
                    meta["name"],
                    dict(pdb, status=status),
                    subresource="status",
                    manager="disruption-controller",
                )
            except errors.ApiError:
                self._wake.set()

    def evict(self, pod_type: ResourceType, namespace: str, name: str, body: Any) -> dict[str, Any]:
        """Handle ``POST pods/<name>/eviction``: delete the pod unless a budget forbids it (429)."""
        pod = self._core.get(pod_type, namespace, name)
        for pdb in self._core.store.list_objects(PDBS, namespace):
            spec = pdb.get("spec") or {}
            if not parse_label_selector(selector_from_label_selector_object(spec.get("selector")))(pod):
                continue
            status = budget_status(self._core, pdb)
            if is_ready(pod) and status["disruptionsAllowed"] < 1:
                raise errors.ApiError(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                    details={
                        "causes": [
                            {
                                "reason": "DisruptionBudget",
                                "message": f"The disruption budget {pdb['metadata']['name']} needs "
                                f"{status['desiredHealthy']} healthy pods and has "
                                f"{status['currentHealthy']} currently",
                            }
                        ]
                    },
                )
        options = (body or {}).get("deleteOptions") if isinstance(body, dict) else None
        self._core.delete(pod_type, namespace, name, options or {})
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
