"""A framed, authenticated TLS connection, and how a client opens one.

Both ends of every port use :class:`FrameConnection`: ``send`` encodes and writes a frame,
``receive`` returns the next decoded frame. :func:`connect` opens a TCP connection with the
current client TLS context and checks the server's certificate identity against a policy.

Frames queued during one event-loop iteration leave in one write at its end. Connections that
share an :class:`OutputCoalescer` can also be flushed together on demand: the Raft driver pushes
out its appends and client replies that way just before it blocks the loop in ``fdatasync``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass

from hive_runtime.identity import Identity
from hive_runtime.transport.access import AccessPolicy, peer_identity
from hive_runtime.transport.frames import DEFAULT_MAX_FRAME_SIZE, Frame, FrameDecoder, encode_frame

READ_CHUNK = 256 * 1024
WRITE_BUFFER_HIGH = 1024 * 1024


class ConnectionClosed(Exception):
    """The other end closed the connection (or it failed) before a whole frame arrived."""


class OutputCoalescer:
    """Connections with frames queued in this event-loop iteration; :meth:`flush` writes them all."""

    def __init__(self) -> None:
        self._dirty: list[FrameConnection] = []
        self._scheduled = False

    def mark(self, connection: FrameConnection) -> None:
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_at_end_of_iteration)

    def _flush_at_end_of_iteration(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Write every queued frame of every connection now."""
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.flush()


@dataclass
class FrameConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    identity: Identity
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    coalescer: OutputCoalescer | None = None

    def __post_init__(self) -> None:
        self._decoder = FrameDecoder(max_frame_size=self.max_frame_size)
        self._ready: deque[Frame] = deque()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False

    async def send(self, frame: Frame) -> None:
        """Queue ``frame``; frames queued in one event-loop iteration go out in one write.

        Waits only when the socket's write buffer is above its high-water mark (backpressure).
        """
        self.send_nowait(frame)
        if self.writer.transport.get_write_buffer_size() > WRITE_BUFFER_HIGH:
            await self.drain()

    def send_nowait(self, frame: Frame) -> None:
        """Queue a frame without waiting; it is written with the others at the end of this
        event-loop iteration (one TLS record and one system call for many frames)."""
        self._outgoing.append(encode_frame(frame, max_frame_size=self.max_frame_size))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            if self.coalescer is not None:
                self.coalescer.mark(self)
            else:
                asyncio.get_running_loop().call_soon(self.flush)

    @property
    def has_buffered_frames(self) -> bool:
        """True when frames already received wait to be returned by :meth:`receive` (a handler
        may defer work until the last of a burst)."""
        return bool(self._ready)

    def flush(self) -> None:
        """Write every queued frame now."""
        self._flush_scheduled = False
        if self._outgoing:
            data = b"".join(self._outgoing)
            self._outgoing.clear()
            if not self.writer.is_closing():
                self.writer.write(data)

    async def drain(self) -> None:
        self.flush()
        await self.writer.drain()

    async def receive(self) -> Frame:
        """The next frame; raises :class:`ConnectionClosed` at EOF, FrameError on bad input."""
        while not self._ready:
            self.flush()  # push out what we owe before waiting for more input
            try:
                data = await self.reader.read(READ_CHUNK)
            except (ConnectionError, ssl.SSLError, OSError) as error:
                raise ConnectionClosed(str(error)) from error
            if not data:
                raise ConnectionClosed("end of stream")
            self._ready.extend(self._decoder.feed(data))
        return self._ready.popleft()

    async def request(self, frame: Frame) -> Frame:
        """Send ``frame`` and wait for the next frame (for strictly request/response users)."""
        await self.send(frame)
        return await self.receive()

    async def close(self) -> None:
        self.flush()
        await close_writer(self.writer)


async def close_writer(writer: asyncio.StreamWriter, *, grace: float = 1.0) -> None:
    """Close politely (TLS close_notify), but abort if the other end does not answer within ``grace``."""
    writer.close()
    try:
        async with asyncio.timeout(grace):
            await writer.wait_closed()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    except TimeoutError:
        writer.transport.abort()


async def connect(
    host: str,
    port: int,
    *,
    context: ssl.SSLContext,
    expect: AccessPolicy,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    connect_timeout: float = 5.0,
    coalescer: OutputCoalescer | None = None,
) -> FrameConnection:
    """Open a mutual-TLS connection and check the server is who ``expect`` admits.

    Raises ``OSError``/``ssl.SSLError``/``TimeoutError`` when the connection or handshake fails
    and :class:`~hive_runtime.transport.access.AccessDenied` when the server's identity is wrong.
    """
    async with asyncio.timeout(connect_timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=None)
    try:
        identity = peer_identity(writer.get_extra_info("ssl_object"))
        expect.check(identity)
    except BaseException:
        writer.close()
        raise
    return FrameConnection(
        reader=reader, writer=writer, identity=identity, max_frame_size=max_frame_size, coalescer=coalescer
    )
