"""A small async client of the Kubernetes REST API: the only place the operator opens a
connection to the API server.

Credentials come from a kubeconfig or from the pod's service account, parsed by the
``kubernetes`` package's loaders (so every kubeconfig form it understands works: client
certificates, tokens, exec plugins); requests go through one aiohttp session. Every write carries
the ``hive-operator`` field manager and user agent, so the API server's audit log and managed
fields show which writes are ours. Bearer tokens are never logged; errors carry the API's own
``Status`` message, which never holds object values.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aiohttp
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from hive_operator.specs.meta import FIELD_MANAGER

USER_AGENT = f"{FIELD_MANAGER}/0.1"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ApiError(Exception):
    """The API server refused a request (``status`` is the HTTP status, ``reason`` the Status reason)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409: a resourceVersion precondition failed, or the object already exists."""


def _ssl_context(configuration: k8s_client.Configuration) -> ssl.SSLContext | bool:
    if not configuration.verify_ssl:
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file and configuration.key_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


class KubeApi:
    """``async with KubeApi.from_kubeconfig(path) as api: await api.get('/api/v1/...')``"""

    def __init__(self, configuration: k8s_client.Configuration, *, timeout: float = 30.0) -> None:
        self._configuration = configuration
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl = _ssl_context(configuration)
        self._session: aiohttp.ClientSession | None = None
        self.server = str(configuration.host).rstrip("/")

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, timeout: float = 30.0) -> KubeApi:
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=path, client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration, timeout=timeout)

    @classmethod
    def in_cluster(cls, *, timeout: float = 30.0) -> KubeApi:
        configuration = k8s_client.Configuration()
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return cls(configuration, timeout=timeout)

    async def __aenter__(self) -> KubeApi:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        # The service-account loader refreshes a rotated token file through this call.
        token = self._configuration.get_api_key_with_prefix("BearerToken")
        if token:
            headers["Authorization"] = token
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        headers = self._headers()
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"))
            headers["Content-Type"] = content_type
        async with self._session.request(
            method, f"{self.server}{path}", data=data, headers=headers, params=params, ssl=self._ssl
        ) as response:
            raw = await response.read()
            status = response.status
        if status >= 400:
            raise _error(method, path, status, raw)
        return json.loads(raw) if raw else None

    async def get(self, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Any) -> Any:
        return await self.request("POST", path, body=body, params={"fieldManager": FIELD_MANAGER})

    async def apply(self, path: str, body: Any, *, force: bool = True) -> Any:
        """Server-side apply of ``body`` as the ``hive-operator`` field manager."""
        params = {"fieldManager": FIELD_MANAGER, "force": "true" if force else "false"}
        return await self.request("PATCH", path, body=body, content_type=APPLY, params=params)

    async def patch(self, path: str, body: Any, *, content_type: str = MERGE) -> Any:
        return await self.request(
            "PATCH", path, body=body, content_type=content_type, params={"fieldManager": FIELD_MANAGER}
        )

    async def delete(self, path: str, *, propagation: str = "Background") -> Any:
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return await self.request("DELETE", path, body=body)


def _error(method: str, path: str, status: int, raw: bytes) -> ApiError:
    reason, message = "", raw[:300].decode(errors="replace")
    try:
        document = json.loads(raw)
        if isinstance(document, dict):
            reason = str(document.get("reason", ""))
            message = str(document.get("message", message))
    except ValueError:
        pass
    text = f"{method} {path}: HTTP {status} {reason}: {message}"
    kind: type[ApiError] = {404: NotFound, 409: Conflict}.get(status, ApiError)
    return kind(text, status=status, reason=reason)
