"""Cluster PKI: a CA per cluster, role-bearing leaf certificates per pod, and the rotation schedule.

Pure code on top of ``cryptography``: nothing here talks to Kubernetes or touches files, so the
operator (which stores the results in Secrets) and the runtime (which parses peer certificates)
share one definition of what a certificate says about its holder.
"""

from hive_operator.pki.authority import (
    CertificateAuthority,
    CertificateInfo,
    IssuedCertificate,
    certificate_info,
    create_ca,
    issue_certificate,
    pod_dns_names,
)
from hive_operator.pki.identity import (
    Identity,
    IdentityError,
    Role,
    identity_from_certificate,
    identity_from_der,
)
from hive_operator.pki.rotation import renewal_due, renewal_time

__all__ = [
    "CertificateAuthority",
    "CertificateInfo",
    "Identity",
    "IdentityError",
    "IssuedCertificate",
    "Role",
    "certificate_info",
    "create_ca",
    "identity_from_certificate",
    "identity_from_der",
    "issue_certificate",
    "pod_dns_names",
    "renewal_due",
    "renewal_time",
]
