"""A mutual-TLS frame server that never lets one bad connection hurt the others.

Each accepted TCP connection is upgraded to TLS with the *current* server context (so rotated
certificates apply to new connections), its certificate identity is checked against an
:class:`AccessPolicy`, then frames are dispatched in order to the handler for their ``kind``.
Handshake failures, refused identities, bad frames, unknown kinds and handler exceptions all end
that connection only, and each is counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping

from hive_runtime.transport.access import AccessDenied, AccessPolicy, peer_identity
from hive_runtime.transport.connection import ConnectionClosed, FrameConnection, close_writer
from hive_runtime.transport.frames import DEFAULT_MAX_FRAME_SIZE, Frame, FrameError
from hive_runtime.transport.metrics import TransportMetrics

log = logging.getLogger(__name__)

FrameHandler = Callable[[FrameConnection, Frame], Awaitable[None]]


def _handshake_reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or ""
    if "PEER_DID_NOT_RETURN_A_CERTIFICATE" in reason or "CERTIFICATE_REQUIRED" in reason:
        return "no_certificate"
    if "CERTIFICATE_VERIFY_FAILED" in reason or "UNKNOWN_CA" in reason:
        return "untrusted_certificate"
    if isinstance(error, TimeoutError):
        return "handshake_timeout"
    return "handshake_failed"


class FrameServer:
    """Serves one port (``port_name`` labels its metrics: ``peer``, ``client``...)."""

    def __init__(
        self,
        *,
        port_name: str,
        context: Callable[[], ssl.SSLContext],
        policy: AccessPolicy,
        handlers: Mapping[str, FrameHandler],
        metrics: TransportMetrics | None = None,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        handshake_timeout: float = 5.0,
        on_disconnect: Callable[[FrameConnection], None] | None = None,
    ) -> None:
        self.port_name = port_name
        self._context = context
        self.policy = policy
        self.handlers = dict(handlers)
        self.metrics = metrics if metrics is not None else TransportMetrics()
        self.max_frame_size = max_frame_size
        self.handshake_timeout = handshake_timeout
        self._on_disconnect = on_disconnect
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks one); returns the bound address."""
        self._server = await asyncio.start_server(self._on_connect, host, port, reuse_address=True)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        """Stop listening and close every open connection.

        Authenticated connections are aborted; connections still in their TLS handshake are left
        to finish or time out (aborting a transport inside ``start_tls`` breaks asyncio 3.11's
        stream writer) and are then closed without being served.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.transport.abort()
        if self._tasks:
            _, stuck = await asyncio.wait(set(self._tasks), timeout=self.handshake_timeout + 1.0)
            for task in stuck:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _refuse(self, reason: str) -> None:
        self.metrics.connections_refused.labels(self.port_name, reason).inc()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            connection = await self._authenticate(reader, writer)
            if connection is not None and not self._closing:
                self._connections.add(writer)
                await self._serve(connection)
        finally:
            self._connections.discard(writer)
            await close_writer(writer)

    async def _authenticate(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> FrameConnection | None:
        try:
            async with asyncio.timeout(self.handshake_timeout):
                await writer.start_tls(self._context())
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as error:
            self._refuse(_handshake_reason(error))
            return None
        try:
            identity = peer_identity(writer.get_extra_info("ssl_object"))
            self.policy.check(identity)
        except AccessDenied as denied:
            log.info("refused connection on %s port: %s", self.port_name, denied)
            self._refuse(denied.reason)
            return None
        return FrameConnection(
            reader=reader, writer=writer, identity=identity, max_frame_size=self.max_frame_size
        )

    async def _serve(self, connection: FrameConnection) -> None:
        gauge = self.metrics.open_connections.labels(self.port_name)
        received = self.metrics.frames_received.labels(self.port_name)
        gauge.inc()
        try:
            while True:
                try:
                    frame = await connection.receive()
                except ConnectionClosed:
                    return
                except FrameError as error:
                    self.metrics.frames_rejected.labels(self.port_name, error.reason).inc()
                    return
                handler = self.handlers.get(frame.kind)
                if handler is None:
                    self.metrics.frames_rejected.labels(self.port_name, "unknown_kind").inc()
                    return
                received.inc()
                try:
                    await handler(connection, frame)
                except (ConnectionError, OSError, ssl.SSLError):
                    return
                except Exception:
                    log.exception("handler for %r failed; closing the connection", frame.kind)
                    self.metrics.frames_rejected.labels(self.port_name, "handler_error").inc()
                    return
        finally:
            gauge.dec()
            if self._on_disconnect is not None:
                self._on_disconnect(connection)
