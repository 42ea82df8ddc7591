"""Running the test bed: an async context manager, and a thread-hosted variant for synchronous callers.

``serve()`` starts the API server (kmock's aiohttp server on a loopback address), installs CRDs from
a directory if given, and writes a kubeconfig. :class:`TestBedThread` runs the same in a background
thread with its own event loop so pytest fixtures, kubectl subprocesses and kopf (in its own loop)
can all talk to it over HTTP.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import kmock
import yaml

from hive_testbed.api.errors import ApiError
from hive_testbed.api.server import ApiServer
from hive_testbed.kubeconfig import write_kubeconfig

T = TypeVar("T")


class RunningTestBed:
    """What a started test bed offers: its URL, kubeconfig and in-process access to the emulator."""

    def __init__(self, api: ApiServer, url: str, kubeconfig: Path) -> None:
        self.api = api
        self.url = url
        self.kubeconfig = kubeconfig

    def install_crds(self, directory: Path) -> list[str]:
        """Create (or replace) every CustomResourceDefinition in the YAML files of ``directory``."""
        installed: list[str] = []
        for path in sorted(directory.glob("*.y*ml")):
            for document in yaml.safe_load_all(path.read_text()):
                if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                    installed.append(self.apply_object(document))
        return installed

    def apply_object(self, document: dict[str, Any]) -> str:
        core = self.api.core
        rtype = core.registry.for_kind(document.get("apiVersion", ""), document.get("kind", ""))
        if rtype is None:
            raise ValueError(f"unknown kind {document.get('apiVersion')}/{document.get('kind')}")
        meta = document.get("metadata") or {}
        namespace = meta.get("namespace", "default") if rtype.namespaced else ""
        try:
            core.create(rtype, namespace or None, document, manager="hive-testbed")
        except ApiError as exc:
            if exc.code != 409:
                raise
            current = core.get(rtype, namespace, meta["name"])
            document = dict(
                document, metadata=dict(meta, resourceVersion=current["metadata"]["resourceVersion"])
            )
            core.replace(rtype, namespace, meta["name"], document, manager="hive-testbed")
        return f"{rtype.describe()}/{meta.get('name')}"


@contextlib.asynccontextmanager
async def serve(
    *,
    workdir: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    crds_dir: Path | None = None,
    bookmark_interval: float = 30.0,
    history_limit: int = 20_000,
    kubeconfig: Path | None = None,
    node_root: Path | None = None,
    images: dict[str, list[str]] | None = None,
    restart_backoff: float = 10.0,
) -> AsyncIterator[RunningTestBed]:
    """Run the API server (and the node agent when ``node_root`` is given) until the block exits."""
    api = ApiServer(
        bookmark_interval=bookmark_interval,
        history_limit=history_limit,
        node_root=node_root,
        images=dict(images or {}),
        restart_backoff=restart_backoff,
    )
    async with api, kmock.Server(api, host=host, port=port) as server:
        url = f"http://{host}:{server.port}"
        path = write_kubeconfig(kubeconfig or workdir / "kubeconfig", url)
        running = RunningTestBed(api, url, path)
        if crds_dir is not None and await asyncio.to_thread(crds_dir.is_dir):
            running.install_crds(crds_dir)
        yield running


class TestBedThread:
    """A test bed served from a daemon thread; ``start()`` returns once the API answers."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, *, workdir: Path, **options: Any) -> None:
        self._workdir = workdir
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._running: RunningTestBed | None = None
        self._error: BaseException | None = None

    @property
    def running(self) -> RunningTestBed:
        if self._running is None:
            raise RuntimeError("the test bed is not running")
        return self._running

    @property
    def url(self) -> str:
        return self.running.url

    @property
    def kubeconfig(self) -> Path:
        return self.running.kubeconfig

    @property
    def api(self) -> ApiServer:
        return self.running.api

    def start(self, timeout: float = 10.0) -> TestBedThread:
        self._thread = threading.Thread(target=self._run, name="hive-testbed", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the test bed did not start in time")
        if self._error is not None:
            raise RuntimeError("the test bed failed to start") from self._error
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(workdir=self._workdir, **self._options) as running:
            self._running = running
            self._ready.set()
            await self._stop.wait()

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` inside the test bed's event loop (the emulator is not thread-safe)."""
        assert self._loop is not None

        async def invoke() -> T:
            return fn()

        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(invoke(), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self._running = None
