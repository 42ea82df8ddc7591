"""``hive bench floor``: the physical floor of a durable, mutually authenticated commit, and how close
Hive's own storage and transport get to it.

- ``floor_fsync_us``: p50/p99 of a raw 128-byte ``write`` + ``fdatasync`` on an append-only file;
- ``floor_rtt_us``: p50/p99 of a raw mutual-TLS 1.3 echo of 128 bytes on loopback (asyncio
  streams in this process, a blocking TLS echo server in a child process, no framing);
- ``raw_rtt_same_loop_us``: the raw echo with the server on this process's event loop, and
  ``frame_rtt_us``: the same through Hive's transport (msgpack frame, FrameServer, identity
  checked once at connect), whose ratio to the same-loop raw echo isolates framing overhead;
- ``wal_commits_per_s_1`` / ``_256``: durable appends per second through the WAL's group commit
  with 1 and 256 concurrent asyncio writers, 128-byte entries, fdatasync in a worker thread (the
  event loop keeps running) and, as ``*_inline``, on the loop thread; with 1 writer, per-commit
  latency is compared with the raw fsync, with 256 writers, throughput with one raw fsync per
  commit (``1e6 / floor_fsync_p50``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hive_cli.bench._result import BenchResult

PAYLOAD = 128

_ECHO_SERVER = """
import socket, ssl, sys, threading
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.minimum_version = ssl.TLSVersion.TLSv1_3
context.verify_mode = ssl.CERT_REQUIRED
context.load_verify_locations(cafile=sys.argv[1])
context.load_cert_chain(sys.argv[2], sys.argv[3])
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
def serve(connection):
    with context.wrap_socket(connection, server_side=True) as tls:
        tls.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := tls.recv(65536):
            tls.sendall(data)
while True:
    connection, _ = listener.accept()
    threading.Thread(target=serve, args=(connection,), daemon=True).start()
"""


def describe() -> str:
    return "raw mTLS round trip and raw fdatasync (the floor), vs Hive's frame transport and WAL group commit"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", type=int, default=2000, help="round trips / fsyncs per latency figure")
    parser.add_argument("--commits", type=int, default=20_000, help="durable appends per throughput figure")
    parser.add_argument(
        "--dir", type=Path, default=None, help="directory on the disk to measure (default: tmp)"
    )


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2] / 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000
    return round(p50, 1), round(p99, 1)


def _raw_fsync(directory: Path, samples: int) -> list[int]:
    path = directory / "floor.dat"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    record = b"x" * PAYLOAD
    timings = []
    try:
        for _ in range(samples):
            started = time.perf_counter_ns()
            os.write(fd, record)
            os.fdatasync(fd)
            timings.append(time.perf_counter_ns() - started)
    finally:
        os.close(fd)
        path.unlink()
    return timings


async def _wal_throughput(
    directory: Path, writers: int, commits: int, *, in_thread: bool
) -> tuple[float, int]:
    from hive_cli.bench._group_commit import GroupCommitter
    from hive_runtime.storage import LogEntry, WriteAheadLog

    wal = WriteAheadLog(directory)
    committer = GroupCommitter(wal, sync_in_thread=in_thread)
    per_writer = max(1, commits // writers)
    next_index = [wal.last_index() + 1]
    data = b"x" * PAYLOAD

    async def writer() -> None:
        for _ in range(per_writer):
            index = next_index[0]
            next_index[0] += 1
            await committer.append([LogEntry(index=index, term=1, data=data)])

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        flusher = group.create_task(committer.run())
        async with asyncio.TaskGroup() as writers_group:
            for _ in range(writers):
                writers_group.create_task(writer())
        flusher.cancel()
    elapsed = time.perf_counter() - started
    wal.close()
    return per_writer * writers / elapsed, committer.syncs


def make_bench_tls(directory: Path) -> tuple[Any, Any, Any]:
    """A throwaway CA and ``server/`` and ``client/`` TLS file sets under ``directory``."""
    from datetime import UTC, datetime, timedelta

    from hive_operator.pki import Identity, Role, create_ca, issue_certificate
    from hive_runtime.tlsfiles import write_tls_files

    now = datetime.now(UTC)
    ca = create_ca(common_name="bench CA", now=now, valid_for=timedelta(hours=1))
    made = []
    for name in ("server", "client"):
        issued = issue_certificate(
            ca, Identity("bench", "floor", Role.PEER, name), now=now, valid_for=timedelta(hours=1)
        )
        made.append(
            write_tls_files(
                directory / name,
                ca_pem=ca.certificate_pem,
                cert_pem=issued.certificate_pem,
                key_pem=issued.private_key_pem,
            )
        )
    return made[0], made[1], ca


async def _raw_tls_rtt(port: int, client_context: Any, samples: int) -> list[int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
    sock = writer.get_extra_info("socket")
    import socket

    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    record = b"y" * PAYLOAD
    timings = []
    for _ in range(samples + 100):
        started = time.perf_counter_ns()
        writer.write(record)
        received = 0
        while received < PAYLOAD:
            received += len(await reader.read(65536))
        timings.append(time.perf_counter_ns() - started)
    writer.transport.abort()
    return timings[100:]


async def _raw_tls_rtt_in_process(server_paths: Any, client_context: Any, samples: int) -> list[int]:
    """Raw TLS echo with both ends on this event loop: the same topology as the frame echo."""
    from hive_runtime.tlsfiles import build_server_context

    finished = asyncio.Event()

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
            finished.set()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=build_server_context(server_paths))
    port = server.sockets[0].getsockname()[1]
    try:
        return await _raw_tls_rtt(port, client_context, samples)
    finally:
        async with asyncio.timeout(5):
            await finished.wait()
        server.close()
        await server.wait_closed()


async def _frame_rtt(server_paths: Any, client_paths: Any, samples: int) -> list[int]:
    from hive_operator.pki import Role
    from hive_runtime.tlsfiles import build_client_context, build_server_context
    from hive_runtime.transport import AccessPolicy, Frame, FrameConnection, FrameServer, connect

    policy = AccessPolicy("bench", "floor", frozenset({Role.PEER}))

    async def echo(connection: FrameConnection, frame: Frame) -> None:
        await connection.send(frame)

    server_context = build_server_context(server_paths)
    server = FrameServer(
        port_name="peer", context=lambda: server_context, policy=policy, handlers={"echo": echo}
    )
    _, port = await server.start("127.0.0.1", 0)
    connection = await connect("127.0.0.1", port, context=build_client_context(client_paths), expect=policy)
    frame = Frame("echo", b"z" * PAYLOAD)
    timings = []
    for _ in range(samples + 100):
        started = time.perf_counter_ns()
        await connection.request(frame)
        timings.append(time.perf_counter_ns() - started)
    await connection.close()
    await server.close()
    return timings[100:]


def measure_floor(root: Path, *, samples: int, tls: tuple[Any, Any] | None = None) -> dict[str, float]:
    """The physical floor: raw 128-byte ``fdatasync`` and a raw mutual-TLS echo with another
    process, p50 and p99 in microseconds. ``hive bench consensus`` reports it beside Hive."""
    from hive_runtime.tlsfiles import build_client_context

    fsync_p50, fsync_p99 = _percentiles(_raw_fsync(root, samples))
    if tls is None:
        server_paths, client_paths, _ = make_bench_tls(root / "tls")
    else:
        server_paths, client_paths = tls
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _ECHO_SERVER,
            str(server_paths.ca),
            str(server_paths.cert),
            str(server_paths.key),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        rtt = asyncio.run(_raw_tls_rtt(port, build_client_context(client_paths), samples))
    finally:
        child.kill()
        child.wait()
    rtt_p50, rtt_p99 = _percentiles(rtt)
    return {
        "fsync_p50_us": fsync_p50,
        "fsync_p99_us": fsync_p99,
        "rtt_p50_us": rtt_p50,
        "rtt_p99_us": rtt_p99,
    }


def run(args: argparse.Namespace) -> BenchResult:
    from hive_runtime.tlsfiles import build_client_context

    with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
        root = Path(scratch)
        server_paths, client_paths, _ = make_bench_tls(root / "tls")
        floor = measure_floor(root, samples=args.samples, tls=(server_paths, client_paths))
        fsync_p50, fsync_p99 = floor["fsync_p50_us"], floor["fsync_p99_us"]
        one_writer = min(args.commits, args.samples)
        wal_1, syncs_1 = asyncio.run(_wal_throughput(root / "wal1", 1, one_writer, in_thread=True))
        wal_1_inline, _ = asyncio.run(_wal_throughput(root / "wal1i", 1, one_writer, in_thread=False))
        wal_256, syncs_256 = asyncio.run(_wal_throughput(root / "wal256", 256, args.commits, in_thread=True))
        wal_256_inline, _ = asyncio.run(_wal_throughput(root / "wal256i", 256, args.commits, in_thread=False))

        cross_p50, cross_p99 = floor["rtt_p50_us"], floor["rtt_p99_us"]
        rtt_p50, rtt_p99 = _percentiles(
            asyncio.run(
                _raw_tls_rtt_in_process(server_paths, build_client_context(client_paths), args.samples)
            )
        )
        frame_p50, frame_p99 = _percentiles(asyncio.run(_frame_rtt(server_paths, client_paths, args.samples)))

    wal_1_latency_us = 1e6 / wal_1
    wal_1_inline_latency_us = 1e6 / wal_1_inline
    fsync_bound = 1e6 / fsync_p50 if fsync_p50 else 0.0
    summary: dict[str, Any] = {
        "floor_fsync_us": fsync_p50,
        "floor_fsync_p99_us": fsync_p99,
        "floor_rtt_us": cross_p50,
        "floor_rtt_p99_us": cross_p99,
        "raw_rtt_same_loop_us": rtt_p50,
        "raw_rtt_same_loop_p99_us": rtt_p99,
        "frame_rtt_us": frame_p50,
        "frame_rtt_p99_us": frame_p99,
        "frame_rtt_ratio": round(frame_p50 / rtt_p50, 2) if rtt_p50 else None,
        "wal_commits_per_s_1": round(wal_1),
        "wal_commit_latency_us_1": round(wal_1_latency_us, 1),
        "wal_commit_latency_ratio_1": round(wal_1_latency_us / fsync_p50, 2) if fsync_p50 else None,
        "wal_commit_latency_us_1_inline": round(wal_1_inline_latency_us, 1),
        "wal_commit_latency_ratio_1_inline": round(wal_1_inline_latency_us / fsync_p50, 2)
        if fsync_p50
        else None,
        "wal_commits_per_s_256": round(wal_256),
        "wal_commits_per_s_256_inline": round(wal_256_inline),
        "wal_throughput_ratio_256": round(wal_256 / fsync_bound, 1) if fsync_bound else None,
        "wal_fsyncs_256": syncs_256,
        "wal_fsyncs_1": syncs_1,
    }
    table = [
        ["measure", "p50 / rate", "p99", "vs floor"],
        ["raw fdatasync 128 B (floor)", f"{fsync_p50} us", f"{fsync_p99} us", "1.00x"],
        ["raw mTLS echo 128 B, other process (floor)", f"{cross_p50} us", f"{cross_p99} us", "-"],
        ["raw mTLS echo 128 B, same event loop", f"{rtt_p50} us", f"{rtt_p99} us", "1.00x"],
        ["Hive frame echo over mTLS", f"{frame_p50} us", f"{frame_p99} us", f"{summary['frame_rtt_ratio']}x"],
        [
            "WAL durable append, 1 writer",
            f"{wal_1_latency_us:.1f} us ({wal_1:,.0f}/s)",
            "-",
            f"{summary['wal_commit_latency_ratio_1']}x fsync",
        ],
        [
            "WAL durable append, 1 writer, inline sync",
            f"{wal_1_inline_latency_us:.1f} us ({wal_1_inline:,.0f}/s)",
            "-",
            f"{summary['wal_commit_latency_ratio_1_inline']}x fsync",
        ],
        [
            "WAL durable appends, 256 writers, inline sync",
            f"{wal_256_inline:,.0f}/s",
            "-",
            f"{round(wal_256_inline / fsync_bound, 1) if fsync_bound else '-'}x one-fsync-per-commit",
        ],
        [
            "WAL durable appends, 256 writers",
            f"{wal_256:,.0f}/s",
            "-",
            f"{summary['wal_throughput_ratio_256']}x one-fsync-per-commit",
        ],
    ]
    notes = [
        f"256 writers: {args.commits} appends made durable by {syncs_256} fdatasync calls (group commit)",
        f"disk: {args.dir or tempfile.gettempdir()}; {os.cpu_count()} CPUs",
    ]
    return BenchResult(name="floor", summary=summary, table=table, notes=notes)
