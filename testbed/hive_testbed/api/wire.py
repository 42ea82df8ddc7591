"""What crosses the wire: request bodies and query options in, JSON responses out.

Split out of :mod:`hive_testbed.api.server` so that the routes (:mod:`hive_testbed.api.routes`)
deal in Python objects only. Here: decoding a body by its content type (JSON, YAML, protobuf), the
kmock ``Request`` built for each HTTP request (kmock's own path parser fails on real paths such as
``GET /api/v1/namespaces``), the query parameters every write understands (``fieldManager``,
``fieldValidation``, ``dryRun``, delete options) and turning a route's result into a response.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp.web
import kmock
import yaml
from kmock._internal import rendering  # the Request/Response types kmock's reactions work with

from hive_testbed.api import discovery, errors, protobuf


def dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class Created:
    """A result to send with 201 Created."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


# ---------------------------------------------------------------------- requests
def parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "protobuf" in content_type:
        return protobuf.decode(raw)  # Secret, ConfigMap, Namespace; anything else is a clear 4xx
    try:
        return json.loads(raw)
    except ValueError:
        pass
    if "yaml" in content_type:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"invalid YAML body: {exc}") from exc
    raise errors.bad_request("the request body is not valid JSON")


def make_request(raw: aiohttp.web.BaseRequest, body: bytes, *, request_id: int) -> rendering.Request:
    """The kmock request for an HTTP request, with the resource, action and body parsed our way."""
    parsed = discovery.parse_path(raw.path)
    content_type = raw.headers.get("Content-Type", "")
    data = parse_body(body, content_type)
    resource = None
    action = None
    if parsed is not None:
        resource = kmock.resource(parsed.group, parsed.version, parsed.plural or "")
        if raw.method == "GET":
            watching = raw.query.get("watch") in ("true", "1")
            action = (
                kmock.action.WATCH if watching else (kmock.action.FETCH if parsed.name else kmock.action.LIST)
            )
        elif raw.method == "POST":
            action = kmock.action.CREATE
        elif raw.method in ("PATCH", "PUT"):
            action = kmock.action.UPDATE
        elif raw.method == "DELETE":
            action = kmock.action.DELETE
    return rendering.Request(
        id=request_id,
        raw_request=raw,
        url=raw.url,
        method=raw.method,
        params=dict(raw.query),
        headers=dict(raw.headers),
        cookies=dict(raw.cookies),
        body=body,
        text=body.decode(errors="replace"),
        data=data,
        action=action,
        resource=resource,
        namespace=parsed.namespace if parsed else None,
        name=parsed.name if parsed else None,
        subresource=parsed.subresource if parsed else None,
    )


def field_manager(request: rendering.Request) -> str:
    """``fieldManager``, else the client's user agent up to the first ``/``."""
    manager = request.params.get("fieldManager")
    if manager:
        return manager
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/")[0] or "unknown"


def strict_validation(request: rendering.Request) -> bool:
    return request.params.get("fieldValidation") == "Strict"


def dry_run(request: rendering.Request) -> bool:
    raw = request._raw_request
    assert raw is not None
    values = raw.query.getall("dryRun", [])
    if any(v != "All" for v in values):
        raise errors.bad_request(f"Invalid dryRun value: {values}")
    return bool(values)


def delete_options(request: rendering.Request) -> dict[str, Any]:
    """``DeleteOptions`` from the body, completed by the query parameters of the same names."""
    options: dict[str, Any] = dict(request.data) if isinstance(request.data, dict) else {}
    for key in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
        if key in request.params and key not in options:
            value: Any = request.params[key]
            if key == "gracePeriodSeconds":
                value = int(value)
            elif key == "orphanDependents":
                value = value == "true"
            options[key] = value
    return options


# ---------------------------------------------------------------------- responses
def error_response(exc: errors.ApiError) -> aiohttp.web.Response:
    return aiohttp.web.json_response(exc.as_status(), status=exc.code, dumps=dumps)


def render(result: Any) -> aiohttp.web.StreamResponse:
    """A route's result as a response: streams as they are, 201 for :class:`Created`, bytes as text."""
    if isinstance(result, aiohttp.web.StreamResponse):
        return result
    if isinstance(result, Created):
        return aiohttp.web.json_response(result.body, status=201, dumps=dumps)
    if isinstance(result, bytes):
        return aiohttp.web.Response(body=result, content_type="text/plain")
    return aiohttp.web.json_response(result, dumps=dumps)
