"""PySyncObj, the reference Python Raft, on the same workload: 3 nodes on loopback.

Nodes 2 and 3 run in child processes; node 1 runs in the benchmark process and is the client,
so PySyncObj is spared the client network hop Hive pays (and, with its defaults, the fsync: it
keeps its log in memory). Writes are ``set(key, value)`` on a replicated dict.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_NODE = """
import sys, time
from pysyncobj import SyncObj, SyncObjConf, replicated
class Registers(SyncObj):
    def __init__(self, me, others, conf):
        super().__init__(me, others, conf=conf)
        self.values = {}
    @replicated
    def set(self, key, value):
        self.values[key] = value
        return value
conf = SyncObjConf(appendEntriesUseBatch=sys.argv[3] == "batch")
node = Registers(sys.argv[1], sys.argv[2].split(","), conf)
while True:
    time.sleep(1)
"""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def pysyncobj_cluster(*, batching: bool) -> Iterator[Any]:
    """Yields node 1 (in this process) once a leader is elected; children stop on exit."""
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Registers(SyncObj):  # type: ignore[misc]
        def __init__(self, me: str, others: list[str], conf: Any) -> None:
            super().__init__(me, others, conf=conf)
            self.values: dict[str, Any] = {}

        @replicated  # type: ignore[untyped-decorator]
        def set(self, key: str, value: Any) -> Any:
            self.values[key] = value
            return value

    addresses = [f"127.0.0.1:{port}" for port in _free_ports(3)]
    mode = "batch" if batching else "nobatch"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _NODE, address, ",".join(a for a in addresses if a != address), mode],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for address in addresses[1:]
    ]
    node = Registers(addresses[0], addresses[1:], SyncObjConf(appendEntriesUseBatch=batching))
    try:
        deadline = time.monotonic() + 30
        while node._getLeader() is None or not node.isReady():
            if time.monotonic() > deadline:
                raise RuntimeError("PySyncObj elected no leader within 30 s")
            time.sleep(0.05)
        yield node
    finally:
        node.destroy()
        for child in children:
            child.kill()
            child.wait()


def sequential_latencies(node: Any, samples: int, value: bytes) -> list[int]:
    timings = []
    for index in range(samples + 100):
        started = time.perf_counter_ns()
        node.set("k", value, sync=True, timeout=10)
        timings.append(time.perf_counter_ns() - started)
        del index
    return timings[100:]


def concurrent_throughput(node: Any, *, in_flight: int, seconds: float, value: bytes) -> float:
    """Keep ``in_flight`` writes outstanding (callbacks) for ``seconds``; completed writes/s."""
    lock = threading.Condition()
    state = {"outstanding": 0, "done": 0}

    def finished(result: Any, error: Any) -> None:
        with lock:
            state["outstanding"] -= 1
            if error == 0:
                state["done"] += 1
            lock.notify()

    started = time.monotonic()
    end = started + seconds
    while time.monotonic() < end:
        with lock:
            while state["outstanding"] >= in_flight:
                lock.wait(0.01)
            state["outstanding"] += 1
        node.set("k", value, callback=finished)
    with lock:
        while state["outstanding"] > 0 and time.monotonic() < end + 10:
            lock.wait(0.05)
    return state["done"] / (time.monotonic() - started)
