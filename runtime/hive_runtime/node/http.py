"""The node's HTTP endpoints: probes and metrics in plain HTTP, the admin API over mutual TLS.

Probe port: ``/healthz`` (the event loop answers) and ``/readyz`` (a leader exists and this node
has applied what it knows to be committed, within ``ready_max_lag_entries``). Metrics port:
``/metrics`` in the Prometheus text format. Neither carries secrets.

Admin port (HTTPS, client certificate from the cluster CA required): ``GET /status`` and
``GET /digest`` for any cluster identity; the mutating calls only for the ``operator`` role.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hive_runtime.identity import Role
from hive_runtime.transport import AccessDenied, peer_identity

if TYPE_CHECKING:
    from hive_runtime.node.app import RuntimeNode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def probe_app(node: RuntimeNode) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_: web.Request) -> web.Response:
        ready = node.is_ready()
        return web.json_response(
            {"ready": ready, "leader": node.driver.leader_id, "applied": node.driver.applied_index},
            status=200 if ready else 503,
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def metrics_app(node: RuntimeNode) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        node.refresh_metrics()
        body = generate_latest(node.registry)
        node.loop_lag.scraped()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


def require_identity(node: RuntimeNode, *, roles: frozenset[Role]) -> Callable[[Handler], Handler]:
    """Admit only certificates of this cluster with one of ``roles``."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            transport = request.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
            try:
                identity = peer_identity(ssl_object)
            except AccessDenied as denied:
                raise web.HTTPUnauthorized(text=str(denied)) from None
            if (identity.namespace, identity.cluster) != (node.config.namespace, node.config.cluster):
                raise web.HTTPForbidden(text="certificate is not of this cluster")
            if identity.role not in roles:
                raise web.HTTPForbidden(text=f"role {identity.role.value} may not call this endpoint")
            return await handler(request)

        return checked

    return wrap


class ReloadingServerContext(ssl.SSLContext):
    """A server context that hands every new connection to ``current()`` at accept time.

    asyncio wraps each accepted socket with ``context.wrap_bio``; delegating that call means a
    rotated certificate, key or CA bundle applies to the next connection without re-binding
    the port, while established connections keep the material they were made with.
    """

    _current: Callable[[], ssl.SSLContext]

    def __new__(cls, current: Callable[[], ssl.SSLContext]) -> ReloadingServerContext:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_SERVER)
        context._current = current
        return context

    def __init__(self, current: Callable[[], ssl.SSLContext]) -> None:
        """All set up in ``__new__`` (``SSLContext`` is configured at construction)."""

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        return self._current().wrap_bio(*args, **kwargs)


async def start_site(
    app: web.Application, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None
) -> tuple[web.AppRunner, tuple[str, int]]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_address=True)
    await site.start()
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname() if sockets else (host, port)
    return runner, (str(bound[0]), int(bound[1]))
