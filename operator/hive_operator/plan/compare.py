"""Does an observed object already say what we want? Compared on the fields we own only.

Server-side apply tracks which manager owns which field; the API server defaults many fields we
never set (``terminationMessagePath``, ``clusterIP``, ``protocol``...) and other tools add labels
and annotations. So an observed object is up to date when every field of the desired object is
present with the same value (recursively; lists element by element), whatever else it holds,
with three refinements:

- quantities compare by value (the API server writes ``4096Mi`` back as ``4Gi``);
- ``data`` of Secrets and ConfigMaps is owned whole: a key we no longer write must go;
- a field we stopped setting is noticed through the hash of the desired object, kept in the
  ``hive.dev/applied-hash`` annotation (Secret data is left out of the hash, so nothing derived
  from a secret value lands in an annotation; it is compared above instead).

Difference paths name fields, never values of Secrets.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from hive_operator.api.base import parse_quantity

APPLIED_HASH = "hive.dev/applied-hash"
_QUANTITY_PARENTS = frozenset({"requests", "limits"})
_OWNED_WHOLE = {"Secret": ("data",), "ConfigMap": ("data",)}

IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    # Growing a claim needs a StorageClass that allows expansion; until that is handled, any
    # change to a claim is refused with the field named (the CRD already refuses shrinking).
    "PersistentVolumeClaim": ("spec",),
    "PodDisruptionBudget": (),
    "Service": ("spec.clusterIP",),
}


def applied_hash(obj: Mapping[str, Any]) -> str:
    """Hash of a desired object as we render it (Secret data values left out)."""
    document = copy.deepcopy(dict(obj))
    document.get("metadata", {}).get("annotations", {}).pop(APPLIED_HASH, None)
    if document.get("kind") == "Secret":
        document["data"] = sorted(document.get("data", {}))
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_applied_hash(obj: dict[str, Any]) -> dict[str, Any]:
    stamped = copy.deepcopy(obj)
    annotations = stamped["metadata"].setdefault("annotations", {})
    annotations[APPLIED_HASH] = applied_hash(obj)
    return stamped


def _equal_scalars(desired: Any, observed: Any, parent: str) -> bool:
    if desired == observed and type(desired) is type(observed):
        return True
    if parent in _QUANTITY_PARENTS and isinstance(desired, str) and isinstance(observed, str):
        try:
            return parse_quantity(desired) == parse_quantity(observed)
        except ValueError:
            return False
    return False


def _differences(desired: Any, observed: Any, path: str, container: str) -> list[str]:
    """Fields of ``desired`` that ``observed`` lacks or differs in; ``container`` is the key of the
    mapping holding this value (quantities are recognised by it: ``requests``, ``limits``)."""
    if isinstance(desired, Mapping):
        if not isinstance(observed, Mapping):
            return [path or "(object)"]
        own = path.rsplit(".", 1)[-1].split("[", 1)[0]
        found: list[str] = []
        for key, value in desired.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in observed:
                found.append(child)
            else:
                found += _differences(value, observed[key], child, own)
        return found
    if isinstance(desired, list):
        if not isinstance(observed, list) or len(observed) != len(desired):
            return [path]
        found = []
        for index, (want, have) in enumerate(zip(desired, observed, strict=True)):
            found += _differences(want, have, f"{path}[{index}]", container)
        return found
    return [] if _equal_scalars(desired, observed, container) else [path]


def differences(desired: Mapping[str, Any], observed: Mapping[str, Any]) -> list[str]:
    """Paths of fields where ``observed`` does not say what ``desired`` says (empty: up to date)."""
    kind = str(desired.get("kind"))
    found: list[str] = []
    whole = _OWNED_WHOLE.get(kind, ())
    for field in whole:
        want, have = desired.get(field) or {}, observed.get(field) or {}
        if want != have:
            changed = sorted(key for key in set(want) | set(have) if want.get(key) != have.get(key))
            found.append(f"{field} ({', '.join(changed)})")
    rest = {key: value for key, value in desired.items() if key not in whole}
    found += _differences(rest, observed, "", "")
    return found


def is_immutable(kind: str, path: str) -> bool:
    return any(
        path == field or path.startswith((f"{field}.", f"{field}["))
        for field in IMMUTABLE_FIELDS.get(kind, ())
    )


def keep_immutable(desired: dict[str, Any], observed: Mapping[str, Any]) -> dict[str, Any]:
    """``desired`` with the immutable fields of its kind copied from ``observed``."""
    result = copy.deepcopy(desired)
    for field in IMMUTABLE_FIELDS.get(str(desired.get("kind")), ()):
        keys = field.split(".")
        source: Any = observed
        for key in keys:
            source = source.get(key) if isinstance(source, Mapping) else None
        target = result
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if source is None:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = copy.deepcopy(source)
    return result
