"""Kubernetes API errors as the real API server reports them (a ``Status`` object with a code).

Every failure in the emulator raises :class:`ApiError`; the HTTP layer renders it, so status codes,
reasons and causes look the same to kubectl, kopf and the kubernetes client as on a real cluster.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API request, rendered as a ``v1/Status`` with ``code`` as the HTTP status."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def as_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


def _details(kind_plural: str, name: str | None, group: str) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind_plural}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, *, group: str = "") -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{_qualified(plural, group)} "{name}" not found',
        details=_details(plural, name, group),
    )


def already_exists(plural: str, name: str, *, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        details=_details(plural, name, group),
    )


def conflict(plural: str, name: str, *, group: str = "", why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        details=_details(plural, name, group),
    )


def invalid(kind: str, name: str, *, group: str = "", causes: list[dict[str, str]]) -> ApiError:
    """422 with one cause per failing field, like the API server's field validation."""
    qualified_kind = f"{kind}.{group}" if group else kind
    summary = "; ".join(f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes)
    if len(causes) > 1:
        summary = f"[{summary}]"
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": causes}
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
    )


def endpoint_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
