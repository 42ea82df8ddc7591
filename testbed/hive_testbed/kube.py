"""A small asyncio client for the Kubernetes API, for the bed's own components.

The node agent acts as several kubelets, the cluster network and a volume provisioner, each under
its own client certificate, so each needs a session of its own and nothing more than JSON
requests and watches. :class:`Informer` keeps a list+watch cache of one resource, relisting when
the server says the watch is too old (410), as client-go's reflector does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class KubeError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{status}: {message}")
        self.status = status
        self.body = body


class KubeClient:
    """JSON over HTTPS with a client certificate; one aiohttp session per identity."""

    def __init__(self, server: str, *, ca_file: Path, cert_file: Path, key_file: Path) -> None:
        self.server = server.rstrip("/")
        self._ssl = ssl.create_default_context(cafile=str(ca_file))
        self._ssl.load_cert_chain(str(cert_file), str(key_file))
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        seconds: float = 30.0,
    ) -> Any:
        data = None if body is None else json.dumps(body)
        headers = {"Accept": "application/json", "Content-Type": content_type}
        async with self._http().request(
            method,
            self.server + path,
            data=data,
            params=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=seconds),
        ) as reply:
            text = await reply.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            if reply.status >= 400:
                raise KubeError(reply.status, payload)
            return payload

    async def get(self, path: str, **params: str) -> Any:
        return await self.request("GET", path, params=params or None)

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("POST", path, body=body)

    async def replace(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("PUT", path, body=body)

    async def merge_patch(self, path: str, body: dict[str, Any]) -> Any:
        return await self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return await self.request("DELETE", path, body=body)

    async def watch(
        self, path: str, params: dict[str, str], on_event: Callable[[str, dict[str, Any]], None]
    ) -> str:
        """Stream one watch until the server closes it; returns the last resourceVersion seen."""
        query = {**params, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "240"}
        version = params.get("resourceVersion", "")
        async with self._http().get(
            self.server + path,
            params=query,
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=None, sock_read=300),
        ) as reply:
            if reply.status >= 400:
                raise KubeError(reply.status, await reply.text())
            async for raw in reply.content:
                if not raw.strip():
                    continue
                event = json.loads(raw)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise KubeError(int(obj.get("code") or 500), obj)
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind != "BOOKMARK":
                    on_event(str(kind), obj)
        return version


def object_key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name"))


class Informer:
    """A cache of the objects at ``path`` (filtered by ``params``) kept current by list+watch."""

    def __init__(
        self,
        client: KubeClient,
        path: str,
        *,
        params: dict[str, str] | None = None,
        on_change: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.on_change = on_change
        self.synced = asyncio.Event()

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        key = object_key(obj)
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        if self.on_change is not None:
            self.on_change(kind, obj)

    async def _list(self) -> str:
        reply = await self.client.get(self.path, **self.params)
        fresh = {object_key(item): item for item in reply.get("items") or []}
        gone = [obj for key, obj in self.objects.items() if key not in fresh]
        self.objects = {}
        for obj in gone:
            if self.on_change is not None:
                self.on_change("DELETED", obj)
        for item in fresh.values():
            self._apply("ADDED", item)
        self.synced.set()
        return str((reply.get("metadata") or {}).get("resourceVersion") or "")

    async def run(self, *, on_error: Callable[[Exception], Awaitable[None]] | None = None) -> None:
        version = ""
        while True:
            try:
                if not version:
                    version = await self._list()
                version = await self.client.watch(
                    self.path, {**self.params, "resourceVersion": version}, self._apply
                )
            except KubeError as exc:
                if exc.status != 410:
                    log.warning("watch %s: %s", self.path, exc)
                    await asyncio.sleep(1)
                version = ""
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                log.info("watch %s interrupted: %s", self.path, exc)
                if on_error is not None:
                    await on_error(exc)
                await asyncio.sleep(0.5)
                version = ""  # relist after a broken stream: events may have been missed


def is_pod_ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )
