"""A small synchronous HTTP client for the Kubernetes API that shows status codes and raw bodies.

Tests (the fidelity probe in particular) need to see exactly what the server answers: status codes,
``Status`` bodies, content types and raw watch lines, which typed clients hide. Authentication comes
from a kubeconfig through the kubernetes package, so the same calls work against a real cluster.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config


@dataclasses.dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        return self.body[key]


class RawClient:
    """Raw HTTP against an API server, authenticated as a kubeconfig says (tests and tools)."""

    @classmethod
    def from_kubeconfig(cls, kubeconfig: Path) -> RawClient:
        return cls(kubeconfig)

    def __init__(self, kubeconfig: Path) -> None:
        configuration = k8s_client.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        self.base = configuration.host.rstrip("/")
        self.headers: dict[str, str] = {}
        token = (configuration.api_key or {}).get("authorization")
        if token:
            self.headers["Authorization"] = token
        self.pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED"
            if configuration.verify_ssl and self.base.startswith("https")
            else "CERT_NONE",
            ca_certs=configuration.ssl_ca_cert,
            cert_file=configuration.cert_file,
            key_file=configuration.key_file,
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Reply:
        headers = dict(self.headers, Accept=accept)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        response = self.pool.request(method, url, body=data, headers=headers, timeout=15.0, retries=False)
        text = response.data.decode()
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(response.status, parsed, dict(response.headers))

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return self.request("PUT", path, body, **kwargs)

    def patch(self, path: str, body: Any, *, kind: str = "merge", **kwargs: Any) -> Reply:
        content_type = {
            "merge": "application/merge-patch+json",
            "json": "application/json-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "apply": "application/apply-patch+yaml",
        }[kind]
        return self.request("PATCH", path, body, content_type=content_type, **kwargs)

    def delete(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, body, **kwargs)

    def watch(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        until: Callable[[list[dict[str, Any]]], bool] | None = None,
        seconds: float = 5.0,
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Collect watch events until ``until(events)`` holds, the server ends the stream, or time is up."""
        query = dict(params or {}, watch="true")
        url = self.base + path + "?" + urllib.parse.urlencode(query)
        response = self.pool.request(
            "GET",
            url,
            headers=dict(self.headers, Accept="application/json"),
            preload_content=False,
            timeout=urllib3.Timeout(connect=5.0, read=seconds),
            retries=False,
        )
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        buffer = b""
        try:
            while time.monotonic() < deadline and not (until and until(events)):
                chunk = response.read1(65536) if hasattr(response, "read1") else response.read(1)
                if not chunk:
                    break
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        events.append(json.loads(line))
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError):
            pass
        finally:
            headers = dict(response.headers)
            response.close()  # closes the connection: it must not go back to the pool mid-stream
            response.release_conn()
        return events, headers
