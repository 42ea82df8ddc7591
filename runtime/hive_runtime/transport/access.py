"""Who may connect to a port: identity from the TLS peer certificate, checked against a policy.

The peer port admits only ``peer`` certificates naming a current member; the client port admits
``client`` (and ``operator``) certificates of this cluster. Membership changes at run time, so the
allowed names come from a callable.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Collection
from dataclasses import dataclass

from hive_runtime.identity import Identity, IdentityError, Role, identity_from_der


class AccessDenied(Exception):
    """The TLS peer is not allowed on this port; ``reason`` is a short metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class AccessPolicy:
    """Identities accepted: same namespace and cluster, one of ``roles``, and a name ``names()`` admits."""

    namespace: str
    cluster: str
    roles: frozenset[Role]
    names: Callable[[], Collection[str]] | None = None  # None: any name

    def check(self, identity: Identity) -> None:
        if (identity.namespace, identity.cluster) != (self.namespace, self.cluster):
            raise AccessDenied("wrong_cluster", f"{identity.uri} is not of {self.namespace}/{self.cluster}")
        if identity.role not in self.roles:
            raise AccessDenied("wrong_role", f"{identity.uri} has role {identity.role.value}")
        if self.names is not None and identity.name not in self.names():
            raise AccessDenied("not_member", f"{identity.uri} does not name a member")

    def for_member(self, name: str) -> AccessPolicy:
        """The policy a client uses to check it reached member ``name`` (and not someone else)."""
        return AccessPolicy(self.namespace, self.cluster, self.roles, names=lambda: (name,))


def peer_identity(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> Identity:
    """The Hive identity of the other end of an established TLS connection."""
    if ssl_object is None:
        raise AccessDenied("no_tls", "connection is not TLS")
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        raise AccessDenied("no_certificate", "peer presented no certificate")
    try:
        return identity_from_der(der)
    except IdentityError as error:
        raise AccessDenied("no_identity", str(error)) from None
