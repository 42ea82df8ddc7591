"""Cluster PKI: a CA per cluster, role-bearing leaf certificates per pod, and the rotation schedule.

Pure code on top of ``cryptography``: nothing here talks to Kubernetes or touches files, so the
operator (which stores the results in Secrets) and the runtime (which parses peer certificates)
share one definition of what a certificate says about its holder.
"""

from hive_operator.pki.authority import CertificateAuthority, IssuedCertificate, create_ca, issue_certificate
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
    "Identity",
    "IdentityError",
    "IssuedCertificate",
    "Role",
    "create_ca",
    "identity_from_certificate",
    "identity_from_der",
    "issue_certificate",
    "renewal_due",
    "renewal_time",
]
