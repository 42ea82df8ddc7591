"""State digests at deterministic indexes, and serialising the state without stalling the loop.

A canary learner and the voters must be comparable at the *same* log index, so every replica
records the digest of its state after applying every multiple of ``digests.interval`` (and at each
snapshot it takes or installs) and keeps the newest ``digests.window`` of them
(:class:`DigestLog`). Any replica that applied the same log reports the same digest at the same
index, whatever its batching, restarts or snapshots.

Serialising the state takes about 0.7 s at 100k resting orders; doing that on the event loop
deposes a leader. :class:`ForkedCapture` takes the copy-on-write route, as Redis's BGSAVE does:
``os.fork()`` costs about 2 ms on the loop (page tables), after which the child holds a frozen
image of the state at exactly that index, serialises and hashes it off the loop (nice'd and, when
the parent is pinned, kept off the pinned core) and streams the result back through a pipe that
the loop reads in the background. The child touches no lock other threads may hold: it uses
CPython's own SHA-256 (not OpenSSL) and raw file descriptors, and leaves with ``os._exit``.

A replica catching up applies many entries per loop iteration and may pass several capture points
at once; each needs its own fork (the state moves on right after), so up to ``max_children``
(``digests.max_captures``, default 3) run together. Each child may come to hold a copy of the heap
(reference counting writes to every object it visits), which is why they are bounded. Beyond the
bound a point is skipped and counted (``hive_digests_skipped_total``); at the default interval
(100,000 entries) that takes several hundred thousand entries applied within one capture's time.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from hive_runtime.platform.pinning import keep_off_pinned_core

try:  # CPython's built-in SHA-256: no OpenSSL locks in a forked child
    from _sha256 import sha256 as _builtin_sha256  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - Python 3.12+ renamed the module
    from _sha2 import sha256 as _builtin_sha256  # type: ignore[import-not-found,no-redef,unused-ignore]

log = logging.getLogger(__name__)

DigestReason = Literal["interval", "snapshot"]
_DIGEST_HEX = 64
_READ_CHUNK = 1 << 20
_MAX_FD = 1 << 20


@dataclass(frozen=True, slots=True)
class RecordedDigest:
    index: int
    digest: str
    reason: DigestReason


class DigestLog:
    """The newest ``window`` recorded digests, by index (pure; the node owns one)."""

    def __init__(self, *, interval: int, window: int) -> None:
        if interval < 1 or window < 1:
            raise ValueError("digest interval and window must be positive")
        self.interval = interval
        self.window = window
        self._indexes: list[int] = []
        self._records: dict[int, RecordedDigest] = {}

    def due(self, index: int) -> bool:
        return index > 0 and index % self.interval == 0

    def record(self, index: int, digest: str, reason: DigestReason) -> None:
        if index in self._records:
            if reason == "interval":  # the same state; keep the deterministic reason
                self._records[index] = RecordedDigest(index, digest, reason)
            return
        bisect.insort(self._indexes, index)
        self._records[index] = RecordedDigest(index, digest, reason)
        while len(self._indexes) > self.window:
            del self._records[self._indexes.pop(0)]

    def exact(self, index: int) -> RecordedDigest | None:
        return self._records.get(index)

    def at_least(self, index: int) -> RecordedDigest | None:
        position = bisect.bisect_left(self._indexes, index)
        return self._records[self._indexes[position]] if position < len(self._indexes) else None

    def latest(self) -> RecordedDigest | None:
        return self._records[self._indexes[-1]] if self._indexes else None

    def span(self) -> tuple[int, int] | None:
        return (self._indexes[0], self._indexes[-1]) if self._indexes else None


@dataclass(frozen=True, slots=True)
class Capture:
    """The state at one index, as a forked child serialised it."""

    index: int
    digest: str
    data: bytes | None  # the serialised state, when asked for (snapshots, backups)
    fork_seconds: float  # time the loop spent in fork()
    child_seconds: float  # wall time from fork to the result


class CaptureFailed(Exception):
    """The child did not deliver (crashed, killed, or wrote a short result)."""


CaptureDone = Callable[[Capture | None, BaseException | None], None]


def _child(write_fd: int, serialise: Callable[[], bytes], *, keep_bytes: bool, nice: int) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        # Hold none of the parent's descriptors: a listening socket kept open here would stop a
        # node restarted right after a crash from binding its ports until this child finishes.
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _MAX_FD)
        signal.set_wakeup_fd(-1)  # the parent's loop owns the wakeup socket
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_DFL)
        with contextlib.suppress(OSError):
            os.nice(nice)
        keep_off_pinned_core()
        data = serialise()
        out = _builtin_sha256(data).hexdigest().encode()
        view = memoryview(out + data) if keep_bytes else memoryview(out)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
        code = 0
    except BaseException:
        code = 1
    finally:
        os._exit(code)


class ForkedCapture:
    """Serialise and hash the state *as of now* in a forked child (see the module docstring)."""

    def __init__(
        self,
        serialise: Callable[[], bytes],
        *,
        max_children: int = 3,
        nice: int = 10,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._serialise = serialise
        self.max_children = max_children
        self.nice = nice
        self._clock = clock
        self._children: dict[int, int] = {}  # pid -> read end of its pipe

    @property
    def in_flight(self) -> int:
        return len(self._children)

    def start(self, index: int, *, keep_bytes: bool, done: CaptureDone) -> bool:
        """Fork now; ``done`` is called on the loop later. False (nothing started) when
        ``max_children`` captures are already running."""
        if self.in_flight >= self.max_children:
            return False
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        started = self._clock()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child (its coverage is never written)
            os.close(read_fd)
            _child(write_fd, self._serialise, keep_bytes=keep_bytes, nice=self.nice)
        fork_seconds = self._clock() - started
        os.close(write_fd)
        os.set_blocking(read_fd, False)
        self._children[pid] = read_fd
        chunks: list[bytes] = []

        def finish() -> None:
            loop.remove_reader(read_fd)
            os.close(read_fd)
            del self._children[pid]
            _, status = os.waitpid(pid, 0)  # EOF: the child has closed its end and is exiting
            payload = b"".join(chunks)
            if os.waitstatus_to_exitcode(status) != 0 or len(payload) < _DIGEST_HEX:
                error = CaptureFailed(f"state capture at {index} failed (child status {status})")
                done(None, error)
                return
            digest = payload[:_DIGEST_HEX].decode()
            data = payload[_DIGEST_HEX:] if keep_bytes else None
            done(Capture(index, digest, data, fork_seconds, self._clock() - started), None)

        def readable() -> None:
            try:
                chunk = os.read(read_fd, _READ_CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if chunk:
                chunks.append(chunk)
            else:
                finish()

        loop.add_reader(read_fd, readable)
        return True

    def close(self) -> None:
        """Kill and reap the children still running (the node is stopping)."""
        loop = asyncio.get_running_loop()
        for pid, read_fd in list(self._children.items()):
            loop.remove_reader(read_fd)
            os.close(read_fd)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        self._children.clear()
