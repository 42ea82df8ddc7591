"""Fuzzed bytes over real mutual-TLS connections never crash the server, and each bad frame is counted.

The server runs on its own event loop in a background thread for the whole module; every
hypothesis example opens a fresh authenticated connection, sends the bytes, and waits for the
server's reaction. After every example a well-formed request on a new connection must still work.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from hive_operator.pki import Role
from hive_runtime.transport import (
    PROTOCOL_VERSION,
    AccessPolicy,
    Frame,
    FrameConnection,
    FrameDecoder,
    FrameError,
    FrameServer,
    TransportMetrics,
    encode_frame,
)

MAX_FRAME = 64 * 1024


@dataclass
class RunningServer:
    port: int
    registry: CollectorRegistry
    client_context: ssl.SSLContext


async def _echo(connection: FrameConnection, frame: Frame) -> None:
    await connection.send(Frame("echo", frame.payload))


@pytest.fixture(scope="module")
def running_server(pki: object) -> Iterator[RunningServer]:
    registry = CollectorRegistry()
    loop = asyncio.new_event_loop()
    server_context = pki.server_context(Role.PEER, "n1")  # type: ignore[attr-defined]
    policy = AccessPolicy("test", "alpha", frozenset({Role.PEER}), names=lambda: ("n1", "n2"))
    server = FrameServer(
        port_name="peer",
        context=lambda: server_context,
        policy=policy,
        handlers={"echo": _echo},
        metrics=TransportMetrics(registry),
        max_frame_size=MAX_FRAME,
    )
    ready = threading.Event()
    bound: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        bound.append(loop.run_until_complete(server.start("127.0.0.1", 0))[1])
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    client_context = pki.client_context(Role.PEER, "n2")  # type: ignore[attr-defined]
    yield RunningServer(port=bound[0], registry=registry, client_context=client_context)
    asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _exchange(server: RunningServer, data: bytes) -> bytes:
    """Send ``data`` on a new TLS connection, half-close, return whatever the server sent back."""
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw,
        server.client_context.wrap_socket(raw) as tls,
    ):
        tls.sendall(data)
        # Half-close the TCP stream (a dup shares the socket): the server sees end of input,
        # answers whatever was complete and closes; the TLS session stays readable here.
        with socket.socket(fileno=os.dup(tls.fileno())) as shared:
            shared.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := tls.recv(65536):
                received += chunk
        except (ssl.SSLError, ConnectionError):
            pass
        return received


def _rejected(server: RunningServer) -> dict[str, float]:
    counts: dict[str, float] = {}
    for family in server.registry.collect():
        if family.name == "hive_frames_rejected":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["reason"]] = sample.value
    return counts


def _expected_reason(data: bytes) -> str | None:
    """What the server must count for ``data``, judged by the pure decoder (None: nothing)."""
    try:
        frames = FrameDecoder(max_frame_size=MAX_FRAME).feed(data)
    except FrameError as error:
        return error.reason
    for frame in frames:
        if frame.kind != "echo":
            return "unknown_kind"
    return None


def _frame_with(version: int, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 1) + bytes([version]) + body


fuzz_inputs = st.one_of(
    st.binary(min_size=1, max_size=200),
    st.builds(_frame_with, st.integers(0, 255), st.binary(max_size=100)),
    st.builds(
        _frame_with,
        st.just(PROTOCOL_VERSION),
        st.builds(
            lambda kind, n: msgpack.packb([kind, n]), st.text(max_size=8), st.integers(-(2**63), 2**63 - 1)
        ),
    ),
    st.builds(lambda n: struct.pack(">I", n), st.integers(MAX_FRAME + 1, 2**32 - 1)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=fuzz_inputs)
def test_fuzzed_frames_are_counted_and_never_crash(running_server: RunningServer, data: bytes) -> None:
    before = _rejected(running_server)
    _exchange(running_server, data)
    expected = _expected_reason(data)
    after = _rejected(running_server)
    if expected is not None:
        assert after.get(expected, 0) == before.get(expected, 0) + 1, (expected, before, after)
    else:
        assert after == before
    reply = _exchange(running_server, encode_frame(Frame("echo", "still alive")))
    assert FrameDecoder().feed(reply) == [Frame("echo", "still alive")]


def test_known_bad_inputs_each_counted(running_server: RunningServer) -> None:
    cases: list[tuple[bytes, str]] = [
        (struct.pack(">I", MAX_FRAME + 1), "oversized"),
        (_frame_with(9, msgpack.packb(["echo", 1])), "unknown_version"),
        (_frame_with(PROTOCOL_VERSION, b"\xc1"), "malformed"),
        (encode_frame(Frame("launch-missiles", 1)), "unknown_kind"),
    ]
    read: Callable[[], dict[str, float]] = lambda: _rejected(running_server)  # noqa: E731
    for data, reason in cases:
        before = read().get(reason, 0)
        assert _exchange(running_server, data) == b""
        assert read().get(reason, 0) == before + 1
