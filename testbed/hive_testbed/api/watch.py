"""Watch streams: resume from a resourceVersion, 410 when compacted, bookmarks, selectors, timeouts.

A watch replays the store's event history after the requested version, then waits for new writes.
Without a version (or ``0``, or with ``sendInitialEvents``) it first sends the current objects as
ADDED. Bookmarks carry the latest version so clients resume without re-listing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
from kmock._internal import rendering

from hive_testbed.api import errors
from hive_testbed.api.core import ApiCore
from hive_testbed.api.resources import ResourceType
from hive_testbed.api.selectors import parse_field_selector, parse_label_selector
from hive_testbed.api.store import StoredEvent

_DEFAULT_WATCH_SECONDS = 1800


def _json_bytes(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


async def serve_watch(
    core: ApiCore,
    request: rendering.Request,
    rtype: ResourceType,
    namespace: str | None,
    name: str | None,
    *,
    bookmark_interval: float,
) -> aiohttp.web.StreamResponse:
    """Stream watch events as ``application/json`` lines until ``timeoutSeconds`` or disconnection."""
    raw = request._raw_request
    assert raw is not None
    response = aiohttp.web.StreamResponse(status=200)
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-cache, private"
    response.enable_chunked_encoding()
    await response.prepare(raw)
    try:
        async for chunk in _watch_stream(
            core, request, rtype, namespace, name, bookmark_interval=bookmark_interval
        ):
            if chunk:
                await response.write(chunk)
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away
    return response


async def _watch_stream(
    core: ApiCore,
    request: rendering.Request,
    rtype: ResourceType,
    namespace: str | None,
    name: str | None,
    *,
    bookmark_interval: float,
) -> AsyncIterator[bytes]:
    params = request.params
    labels = parse_label_selector(params.get("labelSelector"))
    fields = parse_field_selector(params.get("fieldSelector"))

    def matches(obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if namespace is not None and meta.get("namespace") != namespace:
            return False
        if name is not None and meta.get("name") != name:
            return False
        return labels(obj) and fields(obj)

    timeout = float(params.get("timeoutSeconds") or _DEFAULT_WATCH_SECONDS)
    deadline = time.monotonic() + timeout
    bookmarks = params.get("allowWatchBookmarks") == "true"
    since = params.get("resourceVersion") or ""
    initial = params.get("sendInitialEvents") == "true"
    if since in ("", "0") or initial:
        items, rv = core.list(rtype, namespace)
        for obj in items:
            if matches(obj):
                yield _json_bytes({"type": "ADDED", "object": obj})
        last = rv
        if initial:
            yield _json_bytes(_bookmark(rtype, last, initial_end=True))
    else:
        try:
            last = int(since)
        except ValueError:
            yield _json_bytes(
                {
                    "type": "ERROR",
                    "object": errors.bad_request(f"invalid resourceVersion {since}").as_status(),
                }
            )
            return
    last_bookmark = time.monotonic()
    raw = request._raw_request
    while time.monotonic() < deadline:
        if raw is not None and (raw.transport is None or raw.transport.is_closing()):
            return
        try:
            events = core.store.events_after(last, rtype.group_key)
        except errors.ApiError as exc:
            yield _json_bytes({"type": "ERROR", "object": exc.as_status()})
            return
        for event in events:
            last = event.resource_version
            translated = _translate(core, rtype, event, matches)
            if translated is not None:
                yield _json_bytes(translated)
        if events:
            continue
        if bookmarks and time.monotonic() - last_bookmark >= bookmark_interval:
            last = max(last, core.store.resource_version)
            yield _json_bytes(_bookmark(rtype, last))
            last_bookmark = time.monotonic()
        wait = min(deadline - time.monotonic(), 1.0, max(bookmark_interval, 0.05))
        if wait > 0:
            await core.store.wait_for_change(wait)


def _bookmark(rtype: ResourceType, resource_version: int, *, initial_end: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(resource_version)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {
        "type": "BOOKMARK",
        "object": {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta},
    }


def _translate(core: ApiCore, rtype: ResourceType, event: StoredEvent, matches: Any) -> dict[str, Any] | None:
    """Selector-aware event types: objects entering a selection are ADDED, leaving it DELETED."""
    now_matches = matches(event.object)
    before_matches = matches(event.previous)
    shown = core.present(rtype, event.object)
    if event.type == "ADDED":
        return {"type": "ADDED", "object": shown} if now_matches else None
    if event.type == "DELETED":
        return {"type": "DELETED", "object": shown} if before_matches or now_matches else None
    if now_matches and before_matches:
        return {"type": "MODIFIED", "object": shown}
    if now_matches:
        return {"type": "ADDED", "object": shown}
    if before_matches:
        return {"type": "DELETED", "object": shown}
    return None
