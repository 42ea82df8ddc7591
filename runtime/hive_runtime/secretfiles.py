"""Secret files mounted from Kubernetes Secrets, re-read in place when they change.

A Secret volume is a directory whose entries are symlinks into a ``..data`` directory that the
kubelet swaps atomically on update. :class:`SecretFiles` polls it (content hash on an injected
clock, no inotify), keeps the current bytes of every visible file, and tells subscribers which
names changed. ``versions_hash`` identifies the set in use for ``/status`` without revealing
anything about the contents, and ``item_hashes`` does so per item. Contents never appear in
``repr``, logs or metrics.

Layout: each Secret is mounted at ``<directory>/<secret>/`` and each of its items at
``<secret>/<item path>`` (an item path may contain ``/``); the kubelet's ``..data`` links and any
other hidden entry are skipped, symbolic links are followed. A plain file directly in
``<directory>`` is an item of its own, named by its file name.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter

ChangeCallback = Callable[[frozenset[str]], None]


class SecretFiles:
    """The current contents of the files in ``directory`` (hidden ``..data``-style entries skipped)."""

    def __init__(
        self,
        directory: Path,
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.poll_interval = poll_interval
        self._clock = clock
        self._reloads = Counter(
            "hive_secret_reloads",
            "Secret file sets reloaded in place",
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self._contents: dict[str, bytes] = {}
        self._install(self._read())
        self._subscribers: list[ChangeCallback] = []
        self._last_poll = clock()
        self.generation = 1

    def __repr__(self) -> str:
        names = sorted(self._contents)
        return f"SecretFiles({str(self.directory)!r}, names={names}, generation={self.generation})"

    def _read(self) -> dict[str, bytes]:
        contents: dict[str, bytes] = {}
        if not self.directory.is_dir():  # no Secret is mounted: there is nothing to hash
            return contents
        for entry in sorted(self.directory.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_file():
                contents[entry.name] = entry.read_bytes()
            elif entry.is_dir():
                for root, directories, files in os.walk(entry, followlinks=True):
                    directories[:] = sorted(name for name in directories if not name.startswith("."))
                    for name in sorted(files):
                        path = Path(root) / name
                        if not name.startswith(".") and path.is_file():
                            contents[path.relative_to(self.directory).as_posix()] = path.read_bytes()
        return contents

    def _install(self, contents: dict[str, bytes]) -> None:
        """Adopt ``contents`` and hash them once (``/status`` reads the hashes, never the files)."""
        self._contents = contents
        self._item_hashes = {
            name: hashlib.sha256(value).hexdigest() for name, value in sorted(contents.items())
        }
        outer = hashlib.sha256()
        for name, item_hash in self._item_hashes.items():
            outer.update(name.encode() + b"\0" + bytes.fromhex(item_hash))
        self._versions_hash = outer.hexdigest()

    def names(self) -> list[str]:
        return sorted(self._contents)

    def get(self, name: str) -> bytes:
        """The current bytes of secret file ``name`` (``KeyError`` when it does not exist)."""
        return self._contents[name]

    @property
    def versions_hash(self) -> str:
        """SHA-256 over the names and the SHA-256 of each item: changes when any secret changes."""
        return self._versions_hash

    @property
    def item_hashes(self) -> dict[str, str]:
        """SHA-256 (hex) of each item, keyed ``<secret>/<item path>`` (or the plain file name)."""
        return dict(self._item_hashes)

    def subscribe(self, callback: ChangeCallback) -> None:
        """Call ``callback(changed_names)`` after each reload that changed something."""
        self._subscribers.append(callback)

    def poll(self) -> frozenset[str]:
        """Re-read the directory; return the names added, removed or changed (empty when none)."""
        self._last_poll = self._clock()
        try:
            fresh = self._read()
        except OSError:
            return frozenset()  # mid-swap or briefly unreadable: keep the current set, retry later
        changed = frozenset(
            name for name in set(fresh) | set(self._contents) if fresh.get(name) != self._contents.get(name)
        )
        if changed:
            self._install(fresh)
            self.generation += 1
            self._reloads.inc()
            for callback in self._subscribers:
                callback(changed)
        return changed

    def poll_if_due(self) -> frozenset[str]:
        if self._clock() - self._last_poll >= self.poll_interval:
            return self.poll()
        return frozenset()

    async def watch(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Poll forever (run it in the node's TaskGroup)."""
        while True:
            await sleep(self.poll_interval)
            self.poll()
