"""A mutual-TLS frame server that never lets one bad connection hurt the others.

Each accepted TCP connection is upgraded to TLS (``loop.start_tls``) with the *current* server
context (so rotated certificates apply to new connections), its certificate identity is checked against an
:class:`AccessPolicy`, then frames are dispatched in order to the handler for their ``kind``.
Handshake failures, refused identities, bad frames, unknown kinds and handler exceptions all end
that connection only, and each is counted by reason.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import cast

from hive_runtime.transport.access import AccessDenied, AccessPolicy, peer_identity
from hive_runtime.transport.connection import ConnectionClosed, FrameConnection, OutputCoalescer
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


class UnsupportedEventLoopError(RuntimeError):
    """The running event loop cannot serve mutual TLS with per-connection contexts."""


class _AcceptPlain(asyncio.Protocol):
    """Accepts TCP and stops reading at once, so no byte of the TLS handshake is consumed as plain data.

    (``StreamWriter.start_tls`` after ``start_server`` can lose a ClientHello that the stream
    already buffered; pausing in ``connection_made`` closes that race on asyncio's loop.)
    """

    def __init__(self, server: FrameServer) -> None:
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)
        tcp.pause_reading()
        self._server._accepted(tcp)


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
        coalescer: OutputCoalescer | None = None,
    ) -> None:
        self.port_name = port_name
        self._context = context
        self.policy = policy
        self.handlers = dict(handlers)
        self.metrics = metrics if metrics is not None else TransportMetrics()
        self.max_frame_size = max_frame_size
        self.handshake_timeout = handshake_timeout
        self._on_disconnect = on_disconnect
        self._coalescer = coalescer
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.Transport] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen on ``host:port`` (port 0 picks one); returns the bound address."""
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.BaseEventLoop):
            raise UnsupportedEventLoopError(
                f"FrameServer needs asyncio's own event loop, not {type(loop).__module__}: uvloop's "
                "server-side start_tls reads the ClientHello as plain data and stalls the handshake "
                "(MagicStack/uvloop#707); clients (connect, PeerLink) work on uvloop"
            )
        self._server = await loop.create_server(lambda: _AcceptPlain(self), host, port, reuse_address=True)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        """Stop listening, abort every connection (authenticated or still handshaking), wait for handlers."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for transport in list(self._transports):
            transport.abort()
        if self._tasks:
            _, stuck = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in stuck:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def _refuse(self, reason: str) -> None:
        self.metrics.connections_refused.labels(self.port_name, reason).inc()

    def _accepted(self, transport: asyncio.Transport) -> None:
        if self._closing:
            transport.abort()
            return
        task = asyncio.get_running_loop().create_task(self._handle(transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, plain: asyncio.Transport) -> None:
        self._transports.add(plain)
        writer: asyncio.StreamWriter | None = None
        connection: FrameConnection | None = None
        try:
            connection = await self._authenticate(plain)
            if connection is None or self._closing:
                return
            writer = connection.writer
            secure = cast(asyncio.Transport, writer.transport)
            self._transports.add(secure)
            await self._serve(connection)
        finally:
            self._transports.discard(plain)
            if writer is not None and connection is not None:
                self._transports.discard(cast(asyncio.Transport, writer.transport))
                await connection.close()  # writes replies still queued, then closes
            else:
                plain.abort()

    async def _authenticate(self, plain: asyncio.Transport) -> FrameConnection | None:
        """TLS handshake with the current context, then the identity check."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=self.max_frame_size + 16, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        try:
            async with asyncio.timeout(self.handshake_timeout):
                secure = await loop.start_tls(
                    plain,
                    protocol,
                    self._context(),
                    server_side=True,
                    ssl_handshake_timeout=self.handshake_timeout,
                )
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as error:
            self._refuse(_handshake_reason(error))
            return None
        if secure is None:  # the connection went away during the handshake
            self._refuse("handshake_failed")
            return None
        protocol.connection_made(secure)
        writer = asyncio.StreamWriter(secure, protocol, reader, loop)
        try:
            identity = peer_identity(secure.get_extra_info("ssl_object"))
            self.policy.check(identity)
        except AccessDenied as denied:
            log.info("refused connection on %s port: %s", self.port_name, denied)
            self._refuse(denied.reason)
            secure.abort()
            return None
        return FrameConnection(
            reader=reader,
            writer=writer,
            identity=identity,
            max_frame_size=self.max_frame_size,
            coalescer=self._coalescer,
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
