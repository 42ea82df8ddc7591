"""Who a certificate names: role, namespace, cluster and member name, as a SPIFFE-style URI SAN.

The runtime authorises peers and admin callers from this identity alone, so the encoding and the
parser live together, here in the runtime (the lower layer; the operator's PKI, which issues the
certificates, imports it): ``spiffe://hive/<namespace>/<cluster>/<role>/<name>``. The role is also put
in the subject's OU and the name in its CN for humans reading ``openssl x509`` output, but only the
URI is trusted when parsing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from cryptography import x509

SCHEME_PREFIX = "spiffe://hive/"
_SEGMENT = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class IdentityError(ValueError):
    """A certificate or URI does not carry a valid Hive identity."""


class Role(enum.StrEnum):
    """What the holder of a certificate may do."""

    PEER = "peer"  # a runtime replica: Raft traffic between members
    CLIENT = "client"  # order entry and queries on the client port
    OPERATOR = "operator"  # the operator: mutating admin calls


@dataclass(frozen=True, slots=True)
class Identity:
    """The holder of a certificate, as named by the cluster CA."""

    namespace: str
    cluster: str
    role: Role
    name: str

    def __post_init__(self) -> None:
        for field_name in ("namespace", "cluster", "name"):
            value = getattr(self, field_name)
            if not _SEGMENT.match(value):
                raise IdentityError(f"identity {field_name} {value!r} is not a DNS-label-like segment")

    @property
    def uri(self) -> str:
        return f"{SCHEME_PREFIX}{self.namespace}/{self.cluster}/{self.role.value}/{self.name}"

    @classmethod
    def from_uri(cls, uri: str) -> Identity:
        if not uri.startswith(SCHEME_PREFIX):
            raise IdentityError(f"URI {uri!r} is not a Hive identity (expected {SCHEME_PREFIX}...)")
        parts = uri[len(SCHEME_PREFIX) :].split("/")
        if len(parts) != 4:
            raise IdentityError(f"URI {uri!r} must have namespace/cluster/role/name")
        namespace, cluster, role_text, name = parts
        try:
            role = Role(role_text)
        except ValueError:
            raise IdentityError(f"URI {uri!r} names unknown role {role_text!r}") from None
        return cls(namespace=namespace, cluster=cluster, role=role, name=name)


def identity_from_certificate(certificate: x509.Certificate) -> Identity:
    """The single Hive identity in ``certificate``'s URI SANs; :class:`IdentityError` otherwise."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise IdentityError("certificate has no subjectAltName") from None
    uris = [
        uri for uri in san.get_values_for_type(x509.UniformResourceIdentifier) if uri.startswith("spiffe:")
    ]
    if len(uris) != 1:
        raise IdentityError(f"certificate must carry exactly one spiffe URI SAN, found {len(uris)}")
    return Identity.from_uri(uris[0])


def identity_from_der(der: bytes) -> Identity:
    """Parse a DER certificate (as ``SSLObject.getpeercert(binary_form=True)`` returns it)."""
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise IdentityError(f"unparseable certificate: {error}") from None
    return identity_from_certificate(certificate)
