"""Outbound links to the other replicas: reconnect with bounded exponential backoff.

:class:`PeerLink` keeps one connection to one peer. While connected, a frame goes straight into
the connection's output (written at the end of the loop iteration, or at once when the shared
:class:`OutputCoalescer` is flushed); while not, frames wait in a bounded queue that the writer
loop drains after connecting. Past either bound a frame is dropped and counted: Raft resends
what is lost. A ``greeting`` frame, when given, is the first frame of every connection (the node
announces itself and its build version with it). Frames the peer sends back on the link are
passed to ``on_frame``. When the
connection fails the link waits ``backoff.next_delay()`` (through the injected ``sleep``) and
connects again; a successful connection resets the backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hive_runtime.transport.access import AccessDenied, AccessPolicy
from hive_runtime.transport.connection import (
    WRITE_BUFFER_HIGH,
    ConnectionClosed,
    FrameConnection,
    OutputCoalescer,
    connect,
)
from hive_runtime.transport.frames import DEFAULT_MAX_FRAME_SIZE, Frame, FrameError
from hive_runtime.transport.metrics import TransportMetrics

log = logging.getLogger(__name__)


@dataclass
class Backoff:
    """Exponential backoff between ``initial`` and ``maximum`` seconds with proportional jitter."""

    initial: float = 0.05
    maximum: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2  # each delay is scaled by a factor in [1 - jitter, 1]
    rng: random.Random = field(default_factory=random.Random)
    _current: float = 0.0

    def next_delay(self) -> float:
        self._current = (
            self.initial if self._current == 0 else min(self.maximum, self._current * self.multiplier)
        )
        return self._current * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self._current = 0.0


class PeerLink:
    """A self-healing connection to one peer."""

    def __init__(
        self,
        *,
        peer_name: str,
        address: Callable[[], tuple[str, int]],
        context: Callable[[], ssl.SSLContext],
        expect: AccessPolicy,
        on_frame: Callable[[Frame], Awaitable[None]] | None = None,
        greeting: Callable[[], Frame] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        queue_limit: int = 10_000,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        metrics: TransportMetrics | None = None,
        connect_timeout: float = 2.0,
        coalescer: OutputCoalescer | None = None,
        write_buffer_limit: int = 16 * WRITE_BUFFER_HIGH,
    ) -> None:
        self.peer_name = peer_name
        self._address = address
        self._context = context
        self._expect = expect.for_member(peer_name)
        self._on_frame = on_frame
        self._greeting = greeting
        self.backoff = backoff if backoff is not None else Backoff()
        self._sleep = sleep
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(maxsize=queue_limit)
        self.max_frame_size = max_frame_size
        self.metrics = metrics if metrics is not None else TransportMetrics()
        self.connect_timeout = connect_timeout
        self._coalescer = coalescer
        self.write_buffer_limit = write_buffer_limit
        self._connection: FrameConnection | None = None
        self.connected = asyncio.Event()
        self.dropped = 0
        self.connections_made = 0
        self.last_error: str | None = None

    def send(self, frame: Frame) -> bool:
        """Send ``frame`` to the peer; False (and counted in ``dropped``) when it had to be dropped."""
        connection = self._connection
        if connection is not None and self._queue.empty():
            if connection.writer.transport.get_write_buffer_size() > self.write_buffer_limit:
                self.dropped += 1
                return False
            connection.send_nowait(frame)
            return True
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    async def run(self) -> None:
        """Connect, pump frames, reconnect on failure; runs until cancelled."""
        while True:
            try:
                host, port = self._address()
                connection = await connect(
                    host,
                    port,
                    context=self._context(),
                    expect=self._expect,
                    max_frame_size=self.max_frame_size,
                    connect_timeout=self.connect_timeout,
                    coalescer=self._coalescer,
                )
            except (OSError, ssl.SSLError, TimeoutError, AccessDenied) as error:
                self.last_error = f"{type(error).__name__}: {error}"
                self.metrics.reconnects.labels(self.peer_name).inc()
                await self._sleep(self.backoff.next_delay())
                continue
            self.backoff.reset()
            self.connections_made += 1
            self.connected.set()
            try:
                await self._pump(connection)
            except (ConnectionClosed, ConnectionError, OSError, ssl.SSLError, FrameError) as error:
                self.last_error = f"{type(error).__name__}: {error}"
            finally:
                self._connection = None
                self.connected.clear()
                await connection.close()
            self.metrics.reconnects.labels(self.peer_name).inc()
            await self._sleep(self.backoff.next_delay())

    async def _pump(self, connection: FrameConnection) -> None:
        """Send what was queued while disconnected, hand sending over to :meth:`send`, then read
        until the connection fails."""
        if self._greeting is not None:
            connection.send_nowait(self._greeting())
        while not self._queue.empty():
            connection.send_nowait(self._queue.get_nowait())
        self._connection = connection
        while True:
            frame = await connection.receive()
            if self._on_frame is not None:
                await self._on_frame(frame)
