"""One node's state captures: digests at deterministic indexes, snapshots and backups serialised
in forked children (:mod:`hive_runtime.node.digests` has the mechanism and the reasons).

The driver calls :meth:`StateCaptures.capture_point` right after applying every multiple of the
digest interval, :meth:`snapshot` when a snapshot is due (the driver saves the bytes when they
arrive) and :meth:`snapshot_installed` when the leader's snapshot replaced the state; the admin
API asks :meth:`state_now` for a backup. Every finished capture records its digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from hive_runtime.config import DigestSettings
from hive_runtime.node.digests import Capture, CaptureDone, DigestLog, ForkedCapture
from hive_runtime.node.metrics import NodeMetrics

log = logging.getLogger(__name__)

SaveSnapshot = Callable[[int, bytes | None], None]


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StateCaptures:
    def __init__(
        self,
        serialise: Callable[[], bytes],
        *,
        settings: DigestSettings,
        metrics: NodeMetrics,
        name: str,
    ) -> None:
        self.digests = DigestLog(interval=settings.interval, window=settings.window)
        self.forks = ForkedCapture(serialise, max_children=settings.max_captures)
        self._metrics = metrics
        self._name = name

    def restored(self, index: int, data: bytes) -> None:
        """At start: the state begins from the snapshot ``data`` at ``index`` (hashed here, once)."""
        if index > 0:
            self.digests.record(index, _sha256_hex(data), "snapshot")

    def capture_point(self, index: int) -> None:
        """The driver just applied ``index``, a multiple of the digest interval: capture it now."""

        def done(capture: Capture | None, error: BaseException | None) -> None:
            if capture is None:
                log.warning("node %s: no digest at %s: %s", self._name, index, error)
                return
            self._observe(capture)
            self.digests.record(index, capture.digest, "interval")

        if not self.forks.start(index, keep_bytes=False, done=done):
            self._metrics.digests_skipped.inc()
            log.warning("node %s: digest at %s skipped (captures busy)", self._name, index)

    def snapshot(self, index: int, save: SaveSnapshot) -> bool:
        """Serialise a snapshot at ``index`` in the background; ``save`` gets its bytes later."""

        def done(capture: Capture | None, error: BaseException | None) -> None:
            if capture is None:
                log.warning("node %s: snapshot at %s failed: %s", self._name, index, error)
                save(index, None)
                return
            self._observe(capture)
            # a snapshot the driver started at a digest point serves as that point's digest
            self.digests.record(index, capture.digest, "interval" if self.digests.due(index) else "snapshot")
            save(index, capture.data)  # the driver writes the file on the storage's worker thread

        return self.forks.start(index, keep_bytes=True, done=done)

    def state_now(self, index: int, done: CaptureDone) -> bool:
        """Serialise the state as of now (applied ``index``) in the background (backups)."""
        return self.forks.start(index, keep_bytes=True, done=done)

    def snapshot_installed(self, index: int, data: bytes) -> None:
        """A snapshot from the leader replaced the state: its bytes are the state's serialisation,
        so their SHA-256 is the digest at ``index`` (hashed on a worker thread)."""
        hashing = asyncio.get_running_loop().run_in_executor(None, _sha256_hex, data)

        def hashed(future: asyncio.Future[str]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.digests.record(index, future.result(), "snapshot")

        hashing.add_done_callback(hashed)

    def _observe(self, capture: Capture) -> None:
        self._metrics.capture_fork_seconds.observe(capture.fork_seconds)
        self._metrics.capture_seconds.observe(capture.child_seconds)

    def close(self) -> None:
        self.forks.close()
