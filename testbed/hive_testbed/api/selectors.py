"""Label and field selectors, parsed from query strings and matched against stored objects.

Covers the label selector grammar kubectl and client libraries send (``=``, ``==``, ``!=``, ``in``,
``notin``, existence and ``!key``) and field selectors on any dotted object path (``metadata.name``,
``status.phase``, ``involvedObject.uid``, ...), which is a superset of what real kinds allow.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from hive_testbed.api.errors import bad_request

Predicate = Callable[[Mapping[str, Any]], bool]

_SET_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ_TERM = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


@dataclasses.dataclass(frozen=True)
class _Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=":
                return present and value in self.values
            case "!=":
                return not present or value not in self.values
            case "in":
                return present and value in self.values
            case "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case _:
                return not present


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``in (...)`` value lists."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> Predicate:
    """Parse ``labelSelector``; returns a predicate over whole objects."""
    if not text:
        return lambda obj: True
    requirements: list[_Requirement] = []
    for term in _split_terms(text):
        eq = _EQ_TERM.match(term)
        if eq:
            key, op, value = eq.groups()
            requirements.append(_Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
            continue
        st = _SET_TERM.match(term)
        if not st:
            raise bad_request(f"unable to parse requirement: {term!r}")
        negated, key, op, values = st.groups()
        if op:
            requirements.append(
                _Requirement(key, op, frozenset(v.strip() for v in values.split(",") if v.strip()))
            )
        else:
            requirements.append(_Requirement(key, "!" if negated else "exists"))

    def predicate(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return predicate


def selector_from_label_selector_object(selector: Mapping[str, Any] | None) -> str:
    """Render a ``LabelSelector`` object (matchLabels/matchExpressions) as its query-string form."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _lookup(obj: Mapping[str, Any], path: str) -> str | None:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if node is None:
        return None
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None) -> Predicate:
    """Parse ``fieldSelector`` (``path=value``, ``path==value``, ``path!=value``, comma-joined)."""
    if not text:
        return lambda obj: True
    terms: list[tuple[str, bool, str]] = []
    for term in _split_terms(text):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise bad_request(f"invalid field selector: {term!r}")
        path, op, value = match.groups()
        terms.append((path, op != "!=", value))

    def predicate(obj: Mapping[str, Any]) -> bool:
        for path, equal, value in terms:
            actual = _lookup(obj, path)
            if path == "metadata.namespace" and actual is None:
                actual = ""
            if (actual == value) != equal:
                return False
        return True

    return predicate
