"""Who may reach a cluster's client port: the selectors the NetworkPolicy is built from.

The peer port is open only between the cluster's own pods and the admin port only to the
operator's pods, whatever the spec says; only client access is the user's choice.
"""

from __future__ import annotations

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel

CIDR = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3})$"


class NetworkPeer(HiveModel):
    """Pods (by labels, optionally in other namespaces) or an address range allowed in."""

    pod_selector: dict[str, str] | None = Field(
        default=None, description="Labels of the client pods; every pod when empty."
    )
    namespace_selector: dict[str, str] | None = Field(
        default=None,
        description="Labels of the namespaces the client pods run in; the cluster's namespace when "
        "absent, every namespace when empty.",
    )
    cidr: str | None = Field(default=None, pattern=CIDR, description="An address range, e.g. 10.2.0.0/16.")

    cel_rules = (
        CelRule(
            rule="has(self.cidr) != (has(self.podSelector) || has(self.namespaceSelector))",
            message="set either cidr or podSelector/namespaceSelector",
        ),
    )


class Network(HiveModel):
    """Network access to the cluster."""

    client_from: list[NetworkPeer] = Field(
        default_factory=list,
        max_length=32,
        description="Who may open connections to the client port (mutual TLS is still required); "
        "pods in the cluster's namespace when empty.",
    )
