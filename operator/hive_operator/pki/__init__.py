"""Cluster PKI: a CA per cluster, role-bearing leaf certificates per pod, and the rotation schedule.

Pure code on top of ``cryptography``: nothing here talks to Kubernetes or touches files, so the
operator (which stores the results in Secrets) and the runtime (which parses peer certificates)
share one definition of what a certificate says about its holder. Time always comes in as an
argument (``now``); only key generation draws randomness.
"""

from hive_operator.pki.audit_keys import audit_public_key, ensure_audit_keys, new_audit_key
from hive_operator.pki.authority import (
    CertificateAuthority,
    CertificateInfo,
    IssuedCertificate,
    certificate_info,
    create_ca,
    issue_certificate,
    pod_dns_names,
)
from hive_operator.pki.cluster import (
    CaPhase,
    ClusterPki,
    LeafRequest,
    PkiChange,
    PkiOutcome,
    PodTrust,
    RotationPolicy,
    StoredLeaf,
    bundle_fingerprint,
    reconcile_pki,
)
from hive_operator.pki.identity import (
    Identity,
    IdentityError,
    Role,
    identity_from_certificate,
    identity_from_der,
)
from hive_operator.pki.rotation import ca_renewal_time, renewal_due, renewal_time

__all__ = [
    "CaPhase",
    "CertificateAuthority",
    "CertificateInfo",
    "ClusterPki",
    "Identity",
    "IdentityError",
    "IssuedCertificate",
    "LeafRequest",
    "PkiChange",
    "PkiOutcome",
    "PodTrust",
    "Role",
    "RotationPolicy",
    "StoredLeaf",
    "audit_public_key",
    "bundle_fingerprint",
    "ca_renewal_time",
    "certificate_info",
    "create_ca",
    "ensure_audit_keys",
    "identity_from_certificate",
    "identity_from_der",
    "issue_certificate",
    "new_audit_key",
    "pod_dns_names",
    "reconcile_pki",
    "renewal_due",
    "renewal_time",
]
