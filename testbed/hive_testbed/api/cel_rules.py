"""CEL ``x-kubernetes-validations`` of CRD schemas, evaluated with cel-python like the API server does.

A rule sees its node as ``self``; rules mentioning ``oldSelf`` are transition rules and run only
on updates where the node existed before. Compiled programs are cached per rule text.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import celpy
from celpy.adapter import json_to_cel

logging.getLogger("celpy").setLevel(logging.CRITICAL)
logging.getLogger("Environment").setLevel(logging.CRITICAL)
logging.getLogger("Evaluator").setLevel(logging.CRITICAL)
logging.getLogger("NameContainer").setLevel(logging.CRITICAL)

_ENV = celpy.Environment()


@functools.lru_cache(maxsize=512)
def _program(rule: str) -> Any:
    return _ENV.program(_ENV.compile(rule))


def is_transition_rule(rule: str) -> bool:
    return "oldSelf" in rule


def evaluate(
    rule: str, value: Any, old_value: Any = None, *, has_old: bool = False
) -> tuple[bool, str | None]:
    """Return ``(passed, error)``; an evaluation or compile error counts as a failed rule."""
    try:
        program = _program(rule)
    except Exception as exc:
        return False, f"compilation failed: {exc}"
    activation: dict[str, Any] = {"self": json_to_cel(value)}
    if has_old:
        activation["oldSelf"] = json_to_cel(old_value)
    try:
        result = program.evaluate(activation)
    except Exception as exc:
        return False, f"evaluation failed: {exc}"
    return bool(result), None
