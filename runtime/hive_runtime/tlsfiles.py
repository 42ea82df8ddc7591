"""TLS material from mounted files, reloaded in place when the files change.

Certificates rotate while the pod keeps running (a restart could lose its exclusive cores), so
:class:`TlsMaterial` polls the CA, certificate and key files (content hash, on an injected clock)
and, when they change and form a valid set, builds fresh :class:`ssl.SSLContext` objects. Servers
and clients ask for the *current* context per new connection; established connections keep the
context they were made with. A half-rotated set (new certificate, old key) fails to load and is
retried on the next poll while the previous material stays in use.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge


@dataclass(frozen=True)
class TlsPaths:
    """Where the cluster CA bundle, this node's certificate and its private key are mounted."""

    ca: Path
    cert: Path
    key: Path


def build_server_context(paths: TlsPaths) -> ssl.SSLContext:
    """TLS 1.3 server context that requires a client certificate issued by the cluster CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(paths.ca))
    context.load_cert_chain(certfile=str(paths.cert), keyfile=str(paths.key))
    return context


def build_client_context(paths: TlsPaths) -> ssl.SSLContext:
    """TLS 1.3 client context presenting our certificate and trusting only the cluster CA.

    Host names are not checked: the server's identity is checked from the URI SAN of its
    certificate against the expected member (see :mod:`hive_runtime.transport.access`).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(paths.ca))
    context.load_cert_chain(certfile=str(paths.cert), keyfile=str(paths.key))
    return context


def write_tls_files(directory: Path, *, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> TlsPaths:
    """Write a CA/cert/key set (key mode 0600), each file replaced atomically; for local clusters."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = TlsPaths(ca=directory / "ca.crt", cert=directory / "tls.crt", key=directory / "tls.key")
    for path, content, mode in (
        (paths.ca, ca_pem, 0o644),
        (paths.cert, cert_pem, 0o644),
        (paths.key, key_pem, 0o600),
    ):
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    return paths


class TlsMaterialMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.reloads = Counter("hive_tls_reloads", "TLS material reloaded in place", registry=registry)
        self.reload_failures = Counter(
            "hive_tls_reload_failures",
            "Changed TLS files that did not form a loadable set",
            registry=registry,
        )
        self.cert_expiry = Gauge(
            "hive_tls_certificate_expiry_timestamp_seconds",
            "notAfter of the certificate in use",
            registry=registry,
        )


class TlsMaterial:
    """The current server and client contexts built from :class:`TlsPaths`, reloaded on change."""

    def __init__(
        self,
        paths: TlsPaths,
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.paths = paths
        self.poll_interval = poll_interval
        self._clock = clock
        self.metrics = TlsMaterialMetrics(registry if registry is not None else CollectorRegistry())
        self.generation = 0
        self.last_error: str | None = None
        self._last_poll = clock()
        digest = self._digest()
        self._install(digest)  # the initial set must load: raise otherwise

    @property
    def server_context(self) -> ssl.SSLContext:
        return self._server_context

    @property
    def client_context(self) -> ssl.SSLContext:
        return self._client_context

    @property
    def certificate(self) -> x509.Certificate:
        return self._certificate

    def _digest(self) -> bytes:
        hasher = hashlib.sha256()
        for path in (self.paths.ca, self.paths.cert, self.paths.key):
            hasher.update(path.read_bytes())
            hasher.update(b"\0")
        return hasher.digest()

    def _install(self, digest: bytes) -> None:
        server = build_server_context(self.paths)
        client = build_client_context(self.paths)
        certificate = x509.load_pem_x509_certificate(self.paths.cert.read_bytes())
        self.ca_fingerprint = hashlib.sha256(self.paths.ca.read_bytes()).hexdigest()  # for /status
        self._server_context, self._client_context, self._certificate = server, client, certificate
        self._digest_in_use = digest
        self.generation += 1
        self.metrics.cert_expiry.set(certificate.not_valid_after_utc.timestamp())

    def poll(self) -> bool:
        """Reload if the files changed and load cleanly; True when new contexts were installed."""
        self._last_poll = self._clock()
        try:
            digest = self._digest()
            if digest == self._digest_in_use:
                return False
            self._install(digest)
        except (OSError, ssl.SSLError, ValueError) as error:
            self.last_error = f"{type(error).__name__}: {error}"
            self.metrics.reload_failures.inc()
            return False
        self.last_error = None
        self.metrics.reloads.inc()
        return True

    def poll_if_due(self) -> bool:
        """:meth:`poll` when ``poll_interval`` has passed on the injected clock since the last poll."""
        if self._clock() - self._last_poll >= self.poll_interval:
            return self.poll()
        return False

    async def watch(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Poll forever (run it in the node's TaskGroup)."""
        while True:
            await sleep(self.poll_interval)
            self.poll()
