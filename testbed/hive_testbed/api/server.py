"""The HTTP face of the emulator: a subclass of kmock's ``KubernetesScaffold``.

kmock provides the aiohttp server, the request log and its DSL, so tests can still inject faults
with ``server[kmock.resource(...)] << 500`` ahead of the emulated behaviour. This subclass replaces
kmock's naive in-memory objects with :class:`~hive_testbed.api.core.ApiCore` and serves discovery,
CRUD, subresources and watches with the content types kubectl expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering  # the Request/Response types kmock's reactions work with

from hive_testbed.api import discovery, errors, openapi, protobuf, scale
from hive_testbed.api.core import ApiCore
from hive_testbed.api.crds import CrdController
from hive_testbed.api.gc import GarbageCollector
from hive_testbed.api.resources import ResourceRegistry, ResourceType
from hive_testbed.api.store import Store
from hive_testbed.api.tables import as_table, wants_table
from hive_testbed.api.watch import serve_watch
from hive_testbed.controllers.disruption import DisruptionController
from hive_testbed.controllers.statefulset import StatefulSetController
from hive_testbed.node.agent import NodeAgent

log = logging.getLogger(__name__)
_KEEP_REQUESTS = 5_000


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class _Created:
    """A result to send with 201 Created."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


def _parse_body(raw: bytes, content_type: str) -> Any:
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


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesScaffold):
    """The Kubernetes API emulator. Use as ``async with ApiServer() as api, kmock.Server(api): ...``."""

    bookmark_interval: float = 30.0
    history_limit: int = 20_000
    node_root: Path | None = None  # where the node agent keeps pods; None runs no node agent
    images: dict[str, list[str]] = attrs.field(factory=dict)  # image name -> command, for the node agent
    restart_backoff: float = 10.0
    node: NodeAgent | None = attrs.field(init=False, default=None)
    store: Store = attrs.field(init=False)
    registry: ResourceRegistry = attrs.field(init=False)
    core: ApiCore = attrs.field(init=False)
    gc: GarbageCollector = attrs.field(init=False)
    _tasks: list[asyncio.Task[None]] = attrs.field(init=False, factory=list)
    _next_id: int = attrs.field(init=False, default=0)
    statefulsets: StatefulSetController = attrs.field(init=False)
    disruption: DisruptionController = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Deliberately not calling kmock's registrations: its discovery cannot describe CRDs (verbs,
        # scope, subresources) and its object handlers lack the semantics below. One catch-all
        # fallback serves everything that tests did not intercept with their own reactions.
        self.store = Store(history_limit=self.history_limit)
        self.registry = ResourceRegistry()
        self.core = ApiCore(registry=self.registry, store=self.store)
        self.gc = GarbageCollector(self.core)
        self.statefulsets = StatefulSetController(self.core)
        self.disruption = DisruptionController(self.core)
        if self.node_root is not None:
            self.node = NodeAgent(
                self.core, root=self.node_root, images=self.images, restart_backoff=self.restart_backoff
            )
        CrdController(self.core)
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.core.create(
                self._type("", "v1", "namespaces"),
                None,
                {"metadata": {"name": name}},
                manager="kube-apiserver",
            )

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        """Tests' own kmock reactions first (fault injection); everything else is emulated."""
        try:
            return await super()._handle(request)
        except NotImplementedError:  # kmock's signal that no reaction matched
            return await self._serve(request)

    def _type(self, group: str, version: str, plural: str) -> ResourceType:
        rtype = self.registry.get(group, version, plural)
        assert rtype is not None
        return rtype

    async def __aenter__(self) -> ApiServer:
        await super().__aenter__()
        if not self._tasks:
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self.gc.run(), name="testbed-gc"),
                loop.create_task(self.statefulsets.run(), name="testbed-statefulsets"),
                loop.create_task(self.disruption.run(), name="testbed-disruption"),
            ]
            if self.node is not None:
                self._tasks.append(loop.create_task(self.node.run(), name="testbed-node-agent"))
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await super().__aexit__(*exc_info)

    def request_log(self) -> list[rendering.Request]:
        """The requests served so far (the most recent few thousand), oldest first."""
        return list(self._requests)

    def writes(self, *, since: int = 0, user_agent: str | None = None) -> list[rendering.Request]:
        """Mutating requests (POST, PUT, PATCH, DELETE) with ``id >= since``, optionally from one client.

        ``since`` is a request id, e.g. ``len(api.request_log())`` taken before the operation under test;
        this is how a test asserts that an operator's no-op reconcile makes zero API writes.
        """
        return [
            r
            for r in self._requests
            if r.id >= since
            and r.method in ("POST", "PUT", "PATCH", "DELETE")
            and (user_agent is None or r.headers.get("User-Agent", "").startswith(user_agent))
        ]

    # kmock parses paths itself and fails on some real ones (``GET /api/v1/namespaces``), so the entry
    # point parses requests with our own router and then dispatches through kmock's reactions as usual.
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw_request.read()
        try:
            request = self._make_request(raw_request, body, request_id=self._next_id)
            self._next_id += 1
            self._requests.append(request)
            if len(self._requests) > 2 * _KEEP_REQUESTS:
                del self._requests[:-_KEEP_REQUESTS]
            try:
                return await self._handle(request)
            except rendering.StreamingError as exc:
                if exc.__cause__ is not None:
                    log.warning("stream failed: %r", exc.__cause__)
                response: aiohttp.web.StreamResponse = exc.args[0]
                return response
        except errors.ApiError as exc:
            return aiohttp.web.json_response(exc.as_status(), status=exc.code)
        except kmock.KubernetesError as exc:  # raised by tests' own reactions
            return await self._render_error(exc)
        except Exception as exc:
            log.exception("internal error serving %s %s", raw_request.method, raw_request.path)
            return aiohttp.web.json_response(
                errors.ApiError(500, "InternalError", repr(exc)).as_status(), status=500
            )

    def _make_request(
        self, raw: aiohttp.web.BaseRequest, body: bytes, *, request_id: int
    ) -> rendering.Request:
        parsed = discovery.parse_path(raw.path)
        content_type = raw.headers.get("Content-Type", "")
        data = _parse_body(body, content_type)
        resource = None
        action = None
        if parsed is not None:
            resource = kmock.resource(parsed.group, parsed.version, parsed.plural or "")
            if raw.method == "GET":
                watching = raw.query.get("watch") in ("true", "1")
                action = (
                    kmock.action.WATCH
                    if watching
                    else (kmock.action.FETCH if parsed.name else kmock.action.LIST)
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

    # ------------------------------------------------------------------ dispatch
    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            result = await self._route(request)
        except errors.ApiError as exc:
            return aiohttp.web.json_response(exc.as_status(), status=exc.code, dumps=_dumps)
        if isinstance(result, aiohttp.web.StreamResponse):
            return result
        if isinstance(result, _Created):
            return aiohttp.web.json_response(result.body, status=201, dumps=_dumps)
        if isinstance(result, bytes):
            return aiohttp.web.Response(body=result, content_type="text/plain")
        return aiohttp.web.json_response(result, dumps=_dumps)

    async def _route(self, request: rendering.Request) -> Any:
        raw = request._raw_request
        assert raw is not None
        path = raw.path.rstrip("/") or "/"
        parsed = discovery.parse_path(path)
        if parsed is None:
            return self._serve_non_resource(path, raw)
        if parsed.plural is None:
            document = discovery.api_resource_list(self.registry, parsed.group, parsed.version)
            if document is None:
                raise errors.endpoint_not_found()
            return document
        rtype = self.registry.get(parsed.group, parsed.version, parsed.plural)
        if rtype is None:
            raise errors.endpoint_not_found()
        if parsed.namespace is not None and not rtype.namespaced:
            raise errors.endpoint_not_found()
        if parsed.name is None:
            return await self._serve_collection(request, rtype, parsed.namespace)
        return await self._serve_object(
            request, rtype, parsed.namespace or "", parsed.name, parsed.subresource
        )

    def _serve_non_resource(self, path: str, raw: aiohttp.web.BaseRequest) -> Any:
        if path == "/":
            return discovery.root_paths(self.registry)
        if path == "/version":
            return discovery.SERVER_VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return b"ok"
        if path == "/api":
            return discovery.api_versions(f"{raw.host}")
        if path == "/apis":
            return discovery.api_group_list(self.registry)
        parts = [p for p in path.split("/") if p]
        if path == "/openapi/v3":
            return openapi.openapi_root(self.registry, len(list(self.registry)))
        if parts[:2] == ["openapi", "v3"] and len(parts) in (4, 5):
            group, version = (
                ("", parts[3]) if parts[2] == "api" else (parts[3], parts[4] if len(parts) == 5 else "")
            )
            document = openapi.openapi_group_version(self.registry, group, version)
            if document is not None:
                return document
        if len(parts) == 2 and parts[0] == "apis":
            document = discovery.api_group(self.registry, parts[1])
            if document is not None:
                return document
        raise errors.endpoint_not_found()

    @staticmethod
    def _manager(request: rendering.Request) -> str:
        manager = request.params.get("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "unknown")
        return agent.split("/")[0] or "unknown"

    @staticmethod
    def _strict(request: rendering.Request) -> bool:
        return request.params.get("fieldValidation") == "Strict"

    @staticmethod
    def _dry_run(request: rendering.Request) -> bool:
        raw = request._raw_request
        assert raw is not None
        values = raw.query.getall("dryRun", [])
        if any(v != "All" for v in values):
            raise errors.bad_request(f"Invalid dryRun value: {values}")
        return bool(values)

    async def _serve_collection(
        self, request: rendering.Request, rtype: ResourceType, namespace: str | None
    ) -> Any:
        params = request.params
        match request.method:
            case "GET" if params.get("watch") in ("true", "1"):
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
                    dry_run=self._dry_run(request),
                    manager=self._manager(request),
                    strict=self._strict(request),
                )
                return _Created(created)
            case "DELETE":
                items, rv = self.core.list(
                    rtype,
                    namespace,
                    label_selector=params.get("labelSelector"),
                    field_selector=params.get("fieldSelector"),
                )
                options = self._delete_options(request)
                deleted = [
                    self.core.delete(
                        rtype,
                        i["metadata"].get("namespace", ""),
                        i["metadata"]["name"],
                        options,
                        dry_run=self._dry_run(request),
                    )
                    for i in items
                ]
                return {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.api_version,
                    "metadata": {"resourceVersion": str(self.store.resource_version)},
                    "items": deleted,
                }
            case _:
                raise errors.method_not_allowed()

    def _delete_options(self, request: rendering.Request) -> dict[str, Any]:
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

    async def _serve_object(
        self,
        request: rendering.Request,
        rtype: ResourceType,
        namespace: str,
        name: str,
        subresource: str | None,
    ) -> Any:
        if subresource == "scale" and rtype.scale is not None:
            return self._serve_scale(request, rtype, namespace, name)
        if subresource == "eviction" and rtype.group_key == ("", "pods") and request.method == "POST":
            return _Created(self.disruption.evict(rtype, namespace, name, request.data))
        if subresource == "log" and rtype.group_key == ("", "pods") and request.method == "GET":
            return self._serve_log(request, namespace, name)
        if subresource not in (None, "status", "finalize") or (
            subresource == "status" and not rtype.has_status
        ):
            raise errors.endpoint_not_found()
        if subresource == "finalize" and not (
            rtype.group_key == ("", "namespaces") and request.method == "PUT"
        ):
            raise errors.endpoint_not_found()
        manager = self._manager(request)
        match request.method:
            case "GET" if request.params.get("watch") in ("true", "1"):
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
                    dry_run=self._dry_run(request),
                    manager=manager,
                    strict=self._strict(request),
                )
            case "PATCH":
                result, created = self.core.patch(
                    rtype,
                    namespace,
                    name,
                    request.data,
                    content_type=request.headers.get("Content-Type", ""),
                    subresource=subresource,
                    dry_run=self._dry_run(request),
                    manager=manager,
                    force=request.params.get("force") == "true",
                    strict=self._strict(request),
                )
                return _Created(result) if created else result
            case "DELETE" if subresource is None:
                return self.core.delete(
                    rtype, namespace, name, self._delete_options(request), dry_run=self._dry_run(request)
                )
            case _:
                raise errors.method_not_allowed()

    def _serve_log(self, request: rendering.Request, namespace: str, name: str) -> bytes:
        pod = self.core.get(self._type("", "v1", "pods"), namespace, name)
        runtime = self.node.pods.get(pod["metadata"]["uid"]) if self.node is not None else None
        if runtime is None:
            raise errors.bad_request(f'pod "{name}" is not running on a node of this test bed')
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = request.params.get("container") or (containers[0] if containers else "")
        path = runtime.log_path(container)
        return path.read_bytes() if path.exists() else b""

    def _serve_scale(self, request: rendering.Request, rtype: ResourceType, namespace: str, name: str) -> Any:
        current = self.core.get(rtype, namespace, name)
        current_scale = scale.scale_of(rtype, current)
        match request.method:
            case "GET":
                return current_scale
            case "PUT":
                wanted = request.data if isinstance(request.data, dict) else {}
            case "PATCH":
                content_type = request.headers.get("Content-Type", "").split(";")[0]
                from hive_testbed.api import patching

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
            dry_run=self._dry_run(request),
            manager=self._manager(request),
        )
        return scale.scale_of(rtype, updated)

    # ------------------------------------------------------------------ watch
