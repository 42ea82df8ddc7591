"""The emulated endpoints: which path and verb becomes which :class:`~hive_testbed.api.core.ApiCore` call.

Split out of :mod:`hive_testbed.api.server` so that the server keeps only its kmock plumbing (set-up,
background tasks, the request log, fault injection first). :class:`Routes` gets what it serves
explicitly: the core (with its registry and store), the disruption controller for evictions, the
node agent for pod logs and the bookmark interval for watches. It returns plain results (objects,
``bytes``, :class:`~hive_testbed.api.wire.Created`, streams) that :func:`hive_testbed.api.wire.render`
turns into responses, and raises :class:`~hive_testbed.api.errors.ApiError` for the rest.

Covered: non-resource paths (discovery, ``/version``, health, ``/openapi/v3``), collections (list,
watch, create, deletecollection), objects (get, watch, replace, patch, delete, ``/status``, the
namespace ``/finalize``), and the ``scale``, ``eviction`` and pod ``log`` subresources.
"""

from __future__ import annotations

from typing import Any

import aiohttp.web
import attrs
from kmock._internal import rendering  # the Request/Response types kmock's reactions work with

from hive_testbed.api import discovery, errors, openapi, patching, scale
from hive_testbed.api.core import ApiCore
from hive_testbed.api.resources import ResourceType
from hive_testbed.api.tables import as_table, wants_table
from hive_testbed.api.watch import serve_watch
from hive_testbed.api.wire import Created, delete_options, dry_run, field_manager, strict_validation
from hive_testbed.controllers.disruption import DisruptionController
from hive_testbed.node.agent import NodeAgent


def _watching(request: rendering.Request) -> bool:
    return request.params.get("watch") in ("true", "1")


@attrs.frozen(kw_only=True)
class Routes:
    """Serves one parsed request against the core; see the module docstring."""

    core: ApiCore
    disruption: DisruptionController
    node: NodeAgent | None
    bookmark_interval: float

    async def route(self, request: rendering.Request) -> Any:
        raw = request._raw_request
        assert raw is not None
        path = raw.path.rstrip("/") or "/"
        parsed = discovery.parse_path(path)
        if parsed is None:
            return self.serve_non_resource(path, raw)
        registry = self.core.registry
        if parsed.plural is None:
            document = discovery.api_resource_list(registry, parsed.group, parsed.version)
            if document is None:
                raise errors.endpoint_not_found()
            return document
        rtype = registry.get(parsed.group, parsed.version, parsed.plural)
        if rtype is None:
            raise errors.endpoint_not_found()
        if parsed.namespace is not None and not rtype.namespaced:
            raise errors.endpoint_not_found()
        if parsed.name is None:
            return await self.serve_collection(request, rtype, parsed.namespace)
        return await self.serve_object(
            request, rtype, parsed.namespace or "", parsed.name, parsed.subresource
        )

    def serve_non_resource(self, path: str, raw: aiohttp.web.BaseRequest) -> Any:
        registry = self.core.registry
        if path == "/":
            return discovery.root_paths(registry)
        if path == "/version":
            return discovery.SERVER_VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return b"ok"
        if path == "/api":
            return discovery.api_versions(f"{raw.host}")
        if path == "/apis":
            return discovery.api_group_list(registry)
        parts = [p for p in path.split("/") if p]
        if path == "/openapi/v3":
            return openapi.openapi_root(registry, len(list(registry)))
        if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            group, version = (
                ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) == 5 else "")
            )
            document = openapi.openapi_group_version(registry, group, version)
            if document is not None:
                return document
        if len(parts) == 2 and parts[0] == "apis":
            document = discovery.api_group(registry, parts[1])
            if document is not None:
                return document
        raise errors.endpoint_not_found()

    # ------------------------------------------------------------------ collections
    async def serve_collection(
        self, request: rendering.Request, rtype: ResourceType, namespace: str | None
    ) -> Any:
        params = request.params
        match request.method:
            case "GET" if _watching(request):
                return await serve_watch(
                    self.core, request, rtype, namespace, None, bookmark_interval=self.bookmark_interval
                )
            case "GET":
                items, rv = self.core.list(
                    rtype,
                    namespace,
                    label_selector=params.get("labelSelector"),
                    field_selector=params.get("fieldSelector"),
                )
                listing = {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.api_version,
                    "metadata": {"resourceVersion": str(rv)},
                    "items": items,
                }
                if wants_table(request.headers.get("Accept", "")):
                    return as_table(rtype, items, str(rv))
                return listing
            case "POST":
                created = self.core.create(
                    rtype,
                    namespace,
                    request.data,
                    dry_run=dry_run(request),
                    manager=field_manager(request),
                    strict=strict_validation(request),
                )
                return Created(created)
            case "DELETE":
                return self._delete_collection(request, rtype, namespace)
            case _:
                raise errors.method_not_allowed()

    def _delete_collection(
        self, request: rendering.Request, rtype: ResourceType, namespace: str | None
    ) -> dict[str, Any]:
        items, _ = self.core.list(
            rtype,
            namespace,
            label_selector=request.params.get("labelSelector"),
            field_selector=request.params.get("fieldSelector"),
        )
        options = delete_options(request)
        deleted = [
            self.core.delete(
                rtype,
                i["metadata"].get("namespace", ""),
                i["metadata"]["name"],
                options,
                dry_run=dry_run(request),
            )
            for i in items
        ]
        return {
            "kind": f"{rtype.kind}List",
            "apiVersion": rtype.api_version,
            "metadata": {"resourceVersion": str(self.core.store.resource_version)},
            "items": deleted,
        }

    # ------------------------------------------------------------------ objects
    async def serve_object(
        self,
        request: rendering.Request,
        rtype: ResourceType,
        namespace: str,
        name: str,
        subresource: str | None,
    ) -> Any:
        if subresource == "scale" and rtype.scale is not None:
            return self.serve_scale(request, rtype, namespace, name)
        if subresource == "eviction" and rtype.group_key == ("", "pods") and request.method == "POST":
            return Created(self.disruption.evict(rtype, namespace, name, request.data))
        if subresource == "log" and rtype.group_key == ("", "pods") and request.method == "GET":
            return self.serve_log(request, namespace, name)
        if subresource not in (None, "status", "finalize") or (
            subresource == "status" and not rtype.has_status
        ):
            raise errors.endpoint_not_found()
        if subresource == "finalize" and not (
            rtype.group_key == ("", "namespaces") and request.method == "PUT"
        ):
            raise errors.endpoint_not_found()
        manager = field_manager(request)
        match request.method:
            case "GET" if _watching(request):
                return await serve_watch(
                    self.core,
                    request,
                    rtype,
                    namespace or None,
                    name,
                    bookmark_interval=self.bookmark_interval,
                )
            case "GET":
                obj = self.core.get(rtype, namespace, name)
                if wants_table(request.headers.get("Accept", "")):
                    return as_table(rtype, [obj], obj["metadata"]["resourceVersion"])
                return obj
            case "PUT" if subresource == "finalize":
                current = self.core.get(rtype, namespace, name)
                current.setdefault("spec", {})["finalizers"] = (
                    (request.data or {}).get("spec", {}).get("finalizers", [])
                )
                return self.core.replace(rtype, namespace, name, current, manager=manager)
            case "PUT":
                return self.core.replace(
                    rtype,
                    namespace,
                    name,
                    request.data,
                    subresource=subresource,
                    dry_run=dry_run(request),
                    manager=manager,
                    strict=strict_validation(request),
                )
            case "PATCH":
                result, created = self.core.patch(
                    rtype,
                    namespace,
                    name,
                    request.data,
                    content_type=request.headers.get("Content-Type", ""),
                    subresource=subresource,
                    dry_run=dry_run(request),
                    manager=manager,
                    force=request.params.get("force") == "true",
                    strict=strict_validation(request),
                )
                return Created(result) if created else result
            case "DELETE" if subresource is None:
                return self.core.delete(
                    rtype, namespace, name, delete_options(request), dry_run=dry_run(request)
                )
            case _:
                raise errors.method_not_allowed()

    # ------------------------------------------------------------------ subresources
    def serve_log(self, request: rendering.Request, namespace: str, name: str) -> bytes:
        pods = self.core.registry.get("", "v1", "pods")
        assert pods is not None
        pod = self.core.get(pods, namespace, name)
        runtime = self.node.pods.get(pod["metadata"]["uid"]) if self.node is not None else None
        if runtime is None:
            raise errors.bad_request(f'pod "{name}" is not running on a node of this test bed')
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = request.params.get("container") or (containers[0] if containers else "")
        path = runtime.log_path(container)
        return path.read_bytes() if path.exists() else b""

    def serve_scale(self, request: rendering.Request, rtype: ResourceType, namespace: str, name: str) -> Any:
        current = self.core.get(rtype, namespace, name)
        current_scale = scale.scale_of(rtype, current)
        match request.method:
            case "GET":
                return current_scale
            case "PUT":
                wanted = request.data if isinstance(request.data, dict) else {}
            case "PATCH":
                content_type = request.headers.get("Content-Type", "").split(";")[0]
                if content_type == "application/json-patch+json":
                    wanted = patching.json_patch(current_scale, request.data)
                else:
                    wanted = patching.merge_patch(current_scale, request.data)
            case _:
                raise errors.method_not_allowed()
        wanted_rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rtype.plural,
                name,
                group=rtype.group,
                why="the object has been modified; please apply your changes to the latest "
                "version and try again",
            )
        replicas = (wanted.get("spec") or {}).get("replicas", 0)
        updated = self.core.replace(
            rtype,
            namespace,
            name,
            scale.with_replicas(rtype, current, replicas),
            dry_run=dry_run(request),
            manager=field_manager(request),
        )
        return scale.scale_of(rtype, updated)
