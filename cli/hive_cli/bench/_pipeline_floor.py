"""The least a commit-shaped exchange costs in asyncio on this machine: the software floor.

``hive bench consensus`` compares Hive's single-client commit latency with the physical floor
(raw round trips and a raw fdatasync, no software to speak of). This module measures the other
end: the same message pattern as a Raft commit, written as cheaply as asyncio allows, with no
consensus at all, so that a run shows how much of a commit's latency is the platform (Python's
event loop, TLS in ``ssl``, loopback TCP, the disk on shared cores) and how much is Hive.

The pattern: a client sends a 200-byte request to a "leader" process, which forwards it to two
"follower" processes and appends it to its own file with ``fdatasync``; each follower appends
and syncs, then acknowledges; the leader answers the client once its own sync and one
follower's acknowledgement are in (a majority of 3). Every link is mutual TLS 1.3 with Hive's
own contexts; frames are a 4-byte length and raw bytes; handlers are ``asyncio.Protocol``
callbacks (no streams, no tasks); files are preallocated and zero-filled first, like Hive's WAL.
There is no log, no term, no msgpack and no state machine.

Roles run as ``python -m hive_cli.bench._pipeline_floor {leader,follower} ...`` child processes
that print their port on stdout; :func:`measure_pipeline_floor` runs the client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

LENGTH = struct.Struct(">I")
SEQUENCE = struct.Struct(">Q")
REQUEST_BYTES = 200
ZEROED_BYTES = 4 << 20
WARM_UP = 200


class _Framed(asyncio.Protocol):
    """Length-prefixed frames over one transport; ``on_frame(self, body)`` for each whole frame."""

    def __init__(self, on_frame: Callable[[_Framed, bytes], None]) -> None:
        self._on_frame = on_frame
        self._buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= LENGTH.size:
            (length,) = LENGTH.unpack_from(self._buffer)
            if len(self._buffer) < LENGTH.size + length:
                return
            body = bytes(self._buffer[LENGTH.size : LENGTH.size + length])
            del self._buffer[: LENGTH.size + length]
            self._on_frame(self, body)

    def send(self, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(LENGTH.pack(len(body)) + body)


class _SyncedFile:
    """An append-only file, preallocated and zero-filled like Hive's WAL, synced per append."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.pwrite(self._fd, bytes(ZEROED_BYTES), 0)
        os.fsync(self._fd)
        self._offset = 0

    def append_durably(self, data: bytes) -> None:
        if self._offset + len(data) > ZEROED_BYTES:
            self._offset = 0  # stay inside the zeroed area: every sync then flushes data only
        os.pwrite(self._fd, data, self._offset)
        self._offset += len(data)
        os.fdatasync(self._fd)


def _contexts(tls_dir: Path) -> tuple[Any, Any]:
    """Server and client contexts from the ``server/`` and ``client/`` file sets under ``tls_dir``."""
    from hive_runtime.tlsfiles import TlsPaths, build_client_context, build_server_context

    def paths(name: str) -> TlsPaths:
        return TlsPaths(
            ca=tls_dir / name / "ca.crt", cert=tls_dir / name / "tls.crt", key=tls_dir / name / "tls.key"
        )

    return build_server_context(paths("server")), build_client_context(paths("client"))


async def _serve_forever(handler: Callable[[_Framed, bytes], None], server_context: Any) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Framed(handler), "127.0.0.1", 0, ssl=server_context)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()  # until the parent kills this process


async def _follower(directory: Path, tls_dir: Path) -> None:
    server_context, _ = _contexts(tls_dir)
    log = _SyncedFile(directory / "follower.log")

    def on_append(link: _Framed, body: bytes) -> None:
        log.append_durably(body)
        link.send(body[: SEQUENCE.size])

    await _serve_forever(on_append, server_context)


async def _leader(directory: Path, tls_dir: Path, follower_ports: list[int]) -> None:
    server_context, client_context = _contexts(tls_dir)
    log = _SyncedFile(directory / "leader.log")
    loop = asyncio.get_running_loop()
    waiting: dict[bytes, list[Any]] = {}  # sequence -> [client link, durable copies so far]

    def count(sequence: bytes) -> None:
        pending = waiting.get(sequence)
        if pending is None:
            return
        pending[1] += 1
        if pending[1] == 2:  # the leader's own copy and one follower's: a majority of 3
            del waiting[sequence]
            pending[0].send(sequence)

    def on_ack(link: _Framed, body: bytes) -> None:
        count(body)

    followers = []
    for port in follower_ports:
        _, link = await loop.create_connection(lambda: _Framed(on_ack), "127.0.0.1", port, ssl=client_context)
        followers.append(link)

    def on_request(link: _Framed, body: bytes) -> None:
        sequence = body[: SEQUENCE.size]
        waiting[sequence] = [link, 0]
        for follower in followers:
            follower.send(body)  # sent before the leader's own sync, as Hive does
        log.append_durably(body)
        count(sequence)

    await _serve_forever(on_request, server_context)


async def _client(port: int, client_context: Any, samples: int) -> list[int]:
    loop = asyncio.get_running_loop()
    answered: list[asyncio.Future[bytes]] = []

    def on_reply(link: _Framed, body: bytes) -> None:
        answered[0].set_result(body)

    transport, link = await loop.create_connection(
        lambda: _Framed(on_reply), "127.0.0.1", port, ssl=client_context
    )
    padding = b"v" * (REQUEST_BYTES - SEQUENCE.size)
    timings = []
    try:
        for sequence in range(samples + WARM_UP):
            answered[:] = [loop.create_future()]
            started = time.perf_counter_ns()
            link.send(SEQUENCE.pack(sequence) + padding)
            if await answered[0] != SEQUENCE.pack(sequence):
                raise RuntimeError("pipeline answered out of order")
            if sequence >= WARM_UP:
                timings.append(time.perf_counter_ns() - started)
    finally:
        transport.abort()
    return timings


def _start(role: str, *arguments: str) -> tuple[subprocess.Popen[str], int]:
    child = subprocess.Popen(
        [sys.executable, "-m", "hive_cli.bench._pipeline_floor", role, *arguments],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line.strip().isdigit():
        child.kill()
        child.wait()
        raise RuntimeError(f"pipeline {role} did not start")
    return child, int(line)


def measure_pipeline_floor(root: Path, *, tls_dir: Path, samples: int) -> list[int]:
    """Sequential commit-shaped exchanges through 3 child processes; latencies in nanoseconds.

    ``tls_dir`` holds ``server/`` and ``client/`` TLS file sets of one CA (see ``hive bench floor``).
    """
    children: list[subprocess.Popen[str]] = []
    try:
        ports = []
        for name in ("follower-1", "follower-2"):
            (root / name).mkdir(parents=True, exist_ok=True)
            child, port = _start("follower", str(root / name), str(tls_dir))
            children.append(child)
            ports.append(port)
        (root / "leader").mkdir(parents=True, exist_ok=True)
        leader, leader_port = _start("leader", str(root / "leader"), str(tls_dir), *map(str, ports))
        children.append(leader)
        _, client_context = _contexts(tls_dir)
        return asyncio.run(_client(leader_port, client_context, samples))
    finally:
        for child in children:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hive_cli.bench._pipeline_floor")
    parser.add_argument("role", choices=["leader", "follower"])
    parser.add_argument("directory", type=Path)
    parser.add_argument("tls_dir", type=Path)
    parser.add_argument("follower_ports", type=int, nargs="*")
    args = parser.parse_args(argv)
    if args.role == "follower":
        asyncio.run(_follower(args.directory, args.tls_dir))
    else:
        asyncio.run(_leader(args.directory, args.tls_dir, args.follower_ports))


if __name__ == "__main__":
    main()
