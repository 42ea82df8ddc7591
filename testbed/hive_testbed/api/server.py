"""The HTTP face of the emulator: a subclass of kmock's ``KubernetesScaffold``.

kmock provides the aiohttp server, the request log and its DSL, so tests can still inject faults
with ``server[kmock.resource(...)] << 500`` ahead of the emulated behaviour. This subclass replaces
kmock's naive in-memory objects with :class:`~hive_testbed.api.core.ApiCore` and serves discovery,
CRUD, subresources and watches with the content types kubectl expects.

This module keeps the set-up (store, registry, core, controllers, node agent, the built-in
namespaces), the background tasks, the request log and the entry point that gives tests' reactions
the first word; requests are parsed and responses rendered in :mod:`hive_testbed.api.wire`, and
the endpoints themselves are in :mod:`hive_testbed.api.routes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering  # the Request/Response types kmock's reactions work with

from hive_testbed.api import errors, wire
from hive_testbed.api.core import ApiCore
from hive_testbed.api.crds import CrdController
from hive_testbed.api.gc import GarbageCollector
from hive_testbed.api.resources import ResourceRegistry, ResourceType
from hive_testbed.api.routes import Routes
from hive_testbed.api.store import Store
from hive_testbed.controllers.disruption import DisruptionController
from hive_testbed.controllers.statefulset import StatefulSetController
from hive_testbed.node.agent import NodeAgent

log = logging.getLogger(__name__)
_KEEP_REQUESTS = 5_000


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
    _routes: Routes = attrs.field(init=False)

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
        self._routes = Routes(
            core=self.core,
            disruption=self.disruption,
            node=self.node,
            bookmark_interval=self.bookmark_interval,
        )
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
            request = wire.make_request(raw_request, body, request_id=self._next_id)
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

    async def _serve(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            result = await self._routes.route(request)
        except errors.ApiError as exc:
            return wire.error_response(exc)
        return wire.render(result)
