"""The async mutual-TLS client of the admin API, the one the operator drives a cluster with.

One :class:`AdminClient` per node (``https://<host>:<admin port>``), one aiohttp session, TLS 1.3
with the caller's certificate from :func:`client_context`. The server must present a certificate
of the expected namespace and cluster with the ``peer`` role (host names are not checked:
identities live in URI SANs, see :mod:`hive_runtime.identity`); the check runs inside the TLS
handshake (the context's ``sslobject_class``), so no request is sent to anything else. Every
answer is parsed with the contract models, so callers get typed values or one of the errors
below, never a half-understood dict.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from pydantic import ValidationError

from hive_runtime.contract.models import (
    CONTRACT_VERSION,
    AddLearnerRequest,
    BackupRequest,
    BackupResponse,
    ContractModel,
    DigestResponse,
    ErrorResponse,
    MembershipResponse,
    RiskDefaults,
    RiskDefaultsResponse,
    StatusResponse,
    TransferRequest,
    TransferResponse,
)
from hive_runtime.identity import IdentityError, Role, identity_from_der

T = TypeVar("T", bound=ContractModel)


class AdminError(Exception):
    """The node answered with an error (``status`` and the contract's error body), or could not
    be understood. Subclasses name the cases a caller acts on."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        field: str | None = None,
        leader: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.field = field
        self.leader = leader


class InvalidRequest(AdminError):
    """400: the request was refused; ``field`` names the offending field."""


class Forbidden(AdminError):
    """401/403: our certificate is not accepted for this call."""


class NotFound(AdminError):
    """404: e.g. no digest recorded at the asked index."""


class NotLeader(AdminError):
    """409 ``notLeader``: ask ``leader`` (when known) instead."""


class Conflict(AdminError):
    """409 for any other reason (no transfer target, learner not caught up, captures busy)."""


class Unavailable(AdminError):
    """503: the outcome is unknown (e.g. a membership change whose commit was not seen); retry."""


class Unreachable(AdminError):
    """No answer: connection refused, TLS failure, timeout."""


class ContractMismatch(AdminError):
    """The answer is not what contract v1 says (another contract version, or a malformed body)."""


class ServerIdentityError(ssl.SSLCertVerificationError):
    """The server's certificate, though issued by the CA, is not a peer of the expected cluster."""


class _CheckedSSLObject(ssl.SSLObject):
    """An ``SSLObject`` that checks the server's identity as the handshake completes."""

    expect: tuple[str, str] = ("", "")

    def do_handshake(self) -> None:
        super().do_handshake()
        der = self.getpeercert(binary_form=True)
        namespace, cluster = self.expect
        try:
            identity = identity_from_der(der) if der else None
        except IdentityError as error:
            raise ServerIdentityError(f"server certificate: {error}") from None
        if identity is None or (identity.namespace, identity.cluster) != self.expect:
            raise ServerIdentityError(f"the server is not a member of {namespace}/{cluster}")
        if identity.role is not Role.PEER:
            raise ServerIdentityError(f"the server certificate has role {identity.role.value}, not peer")


def client_context(*, ca: Path, cert: Path, key: Path, namespace: str, cluster: str) -> ssl.SSLContext:
    """TLS 1.3 client context presenting ``cert``/``key``, trusting only ``ca``, and admitting only
    servers whose certificate names a ``peer`` of ``namespace``/``cluster``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # identities are URI SANs, checked in the handshake below
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(ca))
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    context.sslobject_class = type("CheckedSSLObject", (_CheckedSSLObject,), {"expect": (namespace, cluster)})
    return context


_BY_STATUS: dict[int, type[AdminError]] = {
    400: InvalidRequest,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    503: Unavailable,
}


class AdminClient:
    """``async with AdminClient(url, context=client_context(...)) as admin: ...``"""

    def __init__(self, base_url: str, *, context: ssl.SSLContext, timeout: float = 15.0) -> None:
        checked = getattr(context, "sslobject_class", None)
        if not (isinstance(checked, type) and issubclass(checked, _CheckedSSLObject)):
            raise ValueError("build the context with client_context(): it checks the server's identity")
        self.base_url = base_url.rstrip("/")
        self._context = context
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AdminClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the endpoints ------------------------------------------------------------------------------
    async def status(self) -> StatusResponse:
        return await self._call("GET", "/status", StatusResponse)

    async def digest(self, *, index: int | None = None, at_least: int | None = None) -> DigestResponse:
        """The digest at exactly ``index``, the first at or after ``at_least``, or the latest."""
        if index is not None and at_least is not None:
            raise ValueError("give index or at_least, not both")
        query: dict[str, str] = {}
        if index is not None:
            query["index"] = str(index)
        if at_least is not None:
            query["atLeast"] = str(at_least)
        return await self._call("GET", "/digest", DigestResponse, query=query)

    async def transfer_leadership(
        self, *, target: int | None = None, wait_seconds: float = 0.0
    ) -> TransferResponse:
        """Ask the leader to hand over to ``target`` (default: its most caught-up voter). With
        ``wait_seconds`` the answer carries the outcome when it is known by then; otherwise the
        outcome is ``pending`` and later shows in :meth:`status` under the same transfer id."""
        body = TransferRequest(target=target, wait_seconds=wait_seconds)
        return await self._call("POST", "/leadership/transfer", TransferResponse, body=body)

    async def add_learner(self, node_id: int) -> MembershipResponse:
        body = AddLearnerRequest(id=node_id)
        return await self._call("POST", "/members", MembershipResponse, body=body)

    async def promote(self, node_id: int) -> MembershipResponse:
        return await self._call("POST", f"/members/{int(node_id)}/promote", MembershipResponse)

    async def remove(self, node_id: int) -> MembershipResponse:
        return await self._call("DELETE", f"/members/{int(node_id)}", MembershipResponse)

    async def backup(self, directory: str) -> BackupResponse:
        body = BackupRequest(directory=directory)
        return await self._call("POST", "/backups", BackupResponse, body=body)

    async def set_risk_defaults(self, defaults: RiskDefaults) -> RiskDefaultsResponse:
        """Replace the cluster-wide risk defaults (ask the leader); answers once applied."""
        return await self._call("PUT", "/risk/defaults", RiskDefaultsResponse, body=defaults)

    # -- plumbing -----------------------------------------------------------------------------------
    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _call(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        body: ContractModel | None = None,
        query: dict[str, str] | None = None,
    ) -> T:
        options: dict[str, Any] = {"ssl": self._context, "params": query or None}
        if body is not None:
            options["data"] = body.model_dump_json(by_alias=True, exclude_none=True)
            options["headers"] = {"Content-Type": "application/json"}
        url = f"{self.base_url}{path}"
        try:
            async with self._session_now().request(method, url, **options) as response:
                raw = await response.read()
                status = response.status
        except aiohttp.ClientConnectorCertificateError as error:
            if isinstance(error.certificate_error, ServerIdentityError):
                raise Forbidden(f"{method} {url}: {error.certificate_error}") from None
            raise Unreachable(f"{method} {url}: {type(error).__name__}: {error}") from None
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as error:
            raise Unreachable(f"{method} {url}: {type(error).__name__}: {error}") from None
        if status >= 400:
            raise self._error(method, url, status, raw)
        try:
            return model.model_validate_json(raw)
        except ValidationError as error:
            raise ContractMismatch(
                f"{method} {url}: answer is not a contract v{CONTRACT_VERSION} {model.__name__}: {error}",
                status=status,
            ) from None

    def _error(self, method: str, url: str, status: int, raw: bytes) -> AdminError:
        try:
            answer = ErrorResponse.model_validate_json(raw)
        except ValidationError:
            text = raw[:200].decode(errors="replace")
            return ContractMismatch(f"{method} {url}: HTTP {status} without a contract error body: {text}")
        message = f"{method} {url}: HTTP {status} {answer.error}: {answer.message}"
        kind: type[AdminError]
        if status == 409:
            kind = NotLeader if answer.error == "notLeader" else Conflict
        else:
            kind = _BY_STATUS.get(status, AdminError)
        return kind(message, status=status, error=answer.error, field=answer.field, leader=answer.leader)
