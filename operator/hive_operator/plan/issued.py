"""``tls.mode: certManager``: are the certificates cert-manager issued usable, and for which pods?

The operator runs no CA in this mode; it asks for Certificates (:mod:`hive_operator.specs.certmanager`)
and waits for their Secrets. This module judges what it observed: every Secret must hold a leaf
with exactly the Hive identity the runtime authorises from, chaining to its ``ca.crt``, within its
validity. A pod is created only once its own Secret is usable (a pod without one could not join
its peers); the operator's own client Secret must be usable too for the status to be read.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from hive_operator.api.status import CertificateStatus
from hive_operator.plan.model import Observed
from hive_operator.plan.status import Verdict
from hive_operator.specs import OperatorContext, names_of
from hive_operator.specs.certmanager import certificates, expected_certificates, read_certificate_secret


@dataclass(frozen=True)
class Issued:
    verdict: Verdict  # the CertificatesReady condition
    blocked: bool  # nothing can be written (no cert-manager, or a spec cert-manager would refuse)
    usable_ordinals: frozenset[int]  # pods whose own Secret is usable
    times: CertificateStatus | None


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def judge_issued(observed: Observed, *, context: OperatorContext, now: datetime) -> Issued:
    cluster = observed.cluster
    names = names_of(cluster)
    if "Certificate" not in observed.available_kinds:
        message = "tls.mode certManager: the Certificate CRD (cert-manager.io/v1) is not installed"
        return Issued(Verdict(False, "CertManagerNotInstalled", message), True, frozenset(), None)
    try:
        certificates(cluster, context)
    except ValueError as error:
        return Issued(Verdict(False, "CertificateSpecRefused", str(error)), True, frozenset(), None)
    problems: list[str] = []
    usable: set[int] = set()
    expiries: list[datetime] = []
    for expected in expected_certificates(cluster, context):
        state = read_certificate_secret(observed.issued_secrets.get(expected.name), expected, now=now)
        if not state.ready:
            problems.append(f"Secret {expected.name}: {state.message}")
            continue
        if state.not_after is not None:
            expiries.append(state.not_after)
        ordinal = names.ordinal_of(expected.identity.name)
        if ordinal is not None and expected.name == names.pod_tls_secret(ordinal):
            usable.add(ordinal)
    times = CertificateStatus(leaf_not_after=_timestamp(min(expiries))) if expiries else None
    issuer = cluster.spec.tls.issuer_ref
    if problems:
        verdict = Verdict(False, "WaitingForCertManager", "; ".join(problems))
    else:
        where = f"{issuer.kind.value} {issuer.name}" if issuer is not None else "the issuer"
        verdict = Verdict(True, "CertificatesIssued", f"cert-manager issued every certificate ({where})")
    return Issued(verdict, False, frozenset(usable), times)


def creatable_ordinals(issued: Issued, existing: Collection[int], replicas: int) -> list[int]:
    """Pods wanted now: those that exist (never deleted for a certificate problem) and those whose
    certificate is usable."""
    return sorted(k for k in range(replicas) if k in issued.usable_ordinals or k in existing)
