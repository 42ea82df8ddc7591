"""Certificates and user secrets of a cluster."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from hive_operator.api.base import CelRule, HiveModel
from hive_operator.api.types import Duration, ResourceName, SecretKey


class TlsMode(StrEnum):
    OPERATOR = "operator"
    CERT_MANAGER = "certManager"


class IssuerKind(StrEnum):
    ISSUER = "Issuer"
    CLUSTER_ISSUER = "ClusterIssuer"


class IssuerRef(HiveModel):
    """A cert-manager issuer."""

    name: ResourceName = Field(description="Name of the Issuer or ClusterIssuer.")
    kind: IssuerKind = Field(default=IssuerKind.ISSUER, description="Issuer or ClusterIssuer.")
    group: str = Field(default="cert-manager.io", description="API group of the issuer.")


class Tls(HiveModel):
    """Mutual TLS between replicas, clients and the operator."""

    mode: TlsMode = Field(
        default=TlsMode.OPERATOR,
        description="operator: the operator runs the cluster CA and issues and rotates certificates; "
        "certManager: cert-manager issues them from issuerRef.",
    )
    issuer_ref: IssuerRef | None = Field(default=None, description="Issuer to use with mode certManager.")
    duration: Duration = Field(default="2160h", description="Lifetime of leaf certificates.")
    renew_before: Duration = Field(
        default="720h", description="Renew a leaf certificate this long before it expires."
    )
    ca_duration: Duration = Field(default="87600h", description="Lifetime of the operator-run CA.")

    cel_rules = (
        CelRule(
            rule="self.mode == oldSelf.mode",
            message="spec.tls.mode cannot change after creation",
            field_path=".mode",
        ),
        CelRule(
            rule="self.mode != 'certManager' || has(self.issuerRef)",
            message="mode certManager requires issuerRef",
            field_path=".issuerRef",
        ),
        CelRule(
            rule="self.mode != 'operator' || !has(self.issuerRef)",
            message="issuerRef is only used with mode certManager",
            field_path=".issuerRef",
        ),
        CelRule(
            rule="duration(self.renewBefore) < duration(self.duration)",
            message="renewBefore must be shorter than duration",
            field_path=".renewBefore",
        ),
        CelRule(
            rule="duration(self.duration) < duration(self.caDuration)",
            message="caDuration must be longer than duration (the CA must outlive its certificates)",
            field_path=".caDuration",
        ),
    )


class SecretItem(HiveModel):
    """One key of a Secret, mounted as a file."""

    key: SecretKey = Field(description="Key in the Secret.")
    path: str = Field(
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$",
        max_length=253,
        description="Relative file path under the secret's mount directory.",
    )

    cel_rules = (
        CelRule(
            rule="!self.path.matches('(^|/)[.][.](/|$)')",
            message="path must not contain '..'",
            field_path=".path",
        ),
    )


class SecretMount(HiveModel):
    """A user Secret mounted read-only as files at /var/run/hive/secrets/<name>/."""

    name: ResourceName = Field(description="Name of the Secret in the cluster's namespace.")
    items: list[SecretItem] = Field(
        default_factory=list,
        max_length=64,
        description="Keys to mount; every key of the Secret when empty.",
    )
