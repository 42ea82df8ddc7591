"""Admission rules applied before a write is stored: object names, CRD schemas, pod grace periods."""

from __future__ import annotations

import re
from typing import Any

from hive_testbed.api import errors, schema
from hive_testbed.api.resources import ResourceType
from hive_testbed.api.store import Store

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NAME_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)


def admit_custom(
    rtype: ResourceType, obj: dict[str, Any], *, old: dict[str, Any] | None, strict: bool = False
) -> dict[str, Any]:
    """Prune, default and validate a custom object against its CRD schema (422 with causes)."""
    if rtype.schema is None:
        return obj
    if strict:
        unknown = schema.unknown_fields(rtype.schema, obj)
        if unknown:
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise errors.bad_request(
                f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
                f"strict decoding error: {listed}"
            )
    admitted: dict[str, Any] = schema.prune_and_default(rtype.schema, obj, root=True)
    causes = (
        schema.validate(rtype.schema, admitted)
        if old is None
        else schema.validate(rtype.schema, admitted, schema.prune_and_default(rtype.schema, old, root=True))
    )
    if causes:
        raise errors.invalid(rtype.kind, obj["metadata"].get("name", ""), group=rtype.group, causes=causes)
    return admitted


def validate_name(rtype: ResourceType, name: str) -> None:
    if len(name) > 253 or not _NAME.match(name):
        raise errors.invalid(
            rtype.kind,
            name,
            group=rtype.group,
            causes=[
                {
                    "reason": "FieldValueInvalid",
                    "field": "metadata.name",
                    "message": f'Invalid value: "{name}": {_NAME_RULE}',
                }
            ],
        )


def grace_period(store: Store, rtype: ResourceType, obj: dict[str, Any], options: dict[str, Any]) -> int:
    """Pods bound to an existing node wait for that node's agent to stop them; all else is immediate."""
    if not (rtype.group == "" and rtype.plural == "pods"):
        return 0
    node_name = (obj.get("spec") or {}).get("nodeName")
    if not node_name or store.get(("", "nodes"), "", node_name) is None:
        return 0
    if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    requested = options.get("gracePeriodSeconds")
    if requested is not None:
        return max(int(requested), 0)
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
