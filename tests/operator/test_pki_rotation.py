"""Certificate issuance, leaf renewal and CA rotation with an overlapping trust bundle."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_operator.pki import (
    CaPhase,
    ClusterPki,
    Identity,
    LeafRequest,
    PodTrust,
    Role,
    RotationPolicy,
    StoredLeaf,
    bundle_fingerprint,
    reconcile_pki,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PODS = ("alpha-0", "alpha-1", "alpha-2")
POLICY = RotationPolicy(
    leaf_duration=timedelta(days=90), ca_duration=timedelta(days=300), renew_before=timedelta(days=30)
)


def _requests(pods: tuple[str, ...] = PODS) -> list[LeafRequest]:
    peers = [
        LeafRequest(
            name=pod,
            identity=Identity(namespace="prod", cluster="alpha", role=Role.PEER, name=pod),
            dns_names=(pod, f"{pod}.alpha-peers.prod.svc"),
        )
        for pod in pods
    ]
    operator = LeafRequest(
        name="operator",
        identity=Identity(namespace="prod", cluster="alpha", role=Role.OPERATOR, name="hive-operator"),
    )
    return [*peers, operator]


def _reconcile(
    current: ClusterPki | None,
    now: datetime,
    reports: Mapping[str, PodTrust] | None = None,
    *,
    pods: tuple[str, ...] = PODS,
    policy: RotationPolicy = POLICY,
):  # type: ignore[no-untyped-def]
    return reconcile_pki(
        current,
        requests=_requests(pods),
        policy=policy,
        now=now,
        pods=pods,
        reports=reports or {},
        ca_common_name="hive alpha CA",
    )


def _cert(leaf: StoredLeaf) -> x509.Certificate:
    return x509.load_pem_x509_certificate(leaf.certificate_pem)


def _all_reporting(pki: ClusterPki) -> dict[str, PodTrust]:
    return {pod: PodTrust(pki.fingerprint, pki.serial(pod)) for pod in PODS}


def test_a_new_cluster_gets_a_ca_and_every_leaf() -> None:
    outcome = _reconcile(None, NOW)
    reasons = [change.reason for change in outcome.changes]
    assert reasons == ["CACreated"] + ["CertificateIssued"] * 4
    pki = outcome.pki
    for name in (*PODS, "operator"):
        certificate = _cert(pki.leaves[name])
        certificate.verify_directly_issued_by(pki.ca.certificate)
        assert certificate.not_valid_after_utc == NOW + POLICY.leaf_duration
    san = _cert(pki.leaves["alpha-1"]).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["alpha-1", "alpha-1.alpha-peers.prod.svc"]
    operator_san = _cert(pki.leaves["operator"]).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert operator_san.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://hive/prod/alpha/operator/hive-operator"
    ]
    assert outcome.phase is CaPhase.STABLE and outcome.ready
    assert outcome.next_rotation == NOW + timedelta(days=60)  # 90-day leaves, renewBefore 30 days


def test_a_settled_pki_changes_nothing() -> None:
    first = _reconcile(None, NOW).pki
    again = _reconcile(first, NOW + timedelta(days=10), _all_reporting(first))
    assert again.changes == ()
    assert again.pki.leaves == first.leaves and again.pki.ca == first.ca
    assert again.ready and again.message == "every certificate is valid and in use"


@pytest.mark.parametrize(
    ("renew_before", "quiet_day", "due_day"),
    [(timedelta(days=30), 59, 61), (timedelta(days=7), 82, 84), (None, 59, 61)],
)
def test_leaves_renew_at_renew_before_or_two_thirds(
    renew_before: timedelta | None, quiet_day: int, due_day: int
) -> None:
    policy = RotationPolicy(
        leaf_duration=timedelta(days=90), ca_duration=timedelta(days=3000), renew_before=renew_before
    )
    first = _reconcile(None, NOW, policy=policy).pki
    assert _reconcile(first, NOW + timedelta(days=quiet_day), policy=policy).changes == ()
    due = _reconcile(first, NOW + timedelta(days=due_day), policy=policy)
    assert [change.reason for change in due.changes] == ["CertificateRotated"] * 4
    assert due.pki.ca == first.ca, "renewing leaves never touches the CA"
    assert all(due.pki.serial(pod) != first.serial(pod) for pod in PODS)


def test_pods_still_using_the_old_leaf_keep_certificates_not_ready() -> None:
    first = _reconcile(None, NOW).pki
    rotated = _reconcile(first, NOW + timedelta(days=61), _all_reporting(first))
    assert not rotated.ready
    assert "alpha-0, alpha-1, alpha-2" in rotated.message
    landed = _reconcile(rotated.pki, NOW + timedelta(days=61), _all_reporting(rotated.pki))
    assert landed.ready and landed.changes == ()


def test_changed_names_or_broken_material_are_reissued() -> None:
    pki = _reconcile(None, NOW).pki
    broken = dict(pki.leaves)
    broken["alpha-0"] = StoredLeaf(
        pki.leaves["alpha-0"].certificate_pem, pki.leaves["alpha-1"].private_key_pem
    )
    broken["alpha-1"] = StoredLeaf(b"not a certificate", b"")
    outcome = _reconcile(ClusterPki(ca=pki.ca, leaves=broken), NOW)
    messages = {change.subject: change.message for change in outcome.changes}
    assert "does not match" in messages["alpha-0"]
    assert "does not parse" in messages["alpha-1"]
    assert set(messages) == {"alpha-0", "alpha-1"}
    foreign = _reconcile(None, NOW).pki  # another CA's leaves
    adopted = _reconcile(ClusterPki(ca=pki.ca, leaves=foreign.leaves), NOW)
    assert {change.subject for change in adopted.changes} == {*PODS, "operator"}
    assert all("not issued by a trusted CA" in change.message for change in adopted.changes)


def test_scaling_down_drops_the_leaf_and_up_issues_one() -> None:
    pki = _reconcile(None, NOW).pki
    down = _reconcile(pki, NOW, pods=PODS[:2])
    assert "alpha-2" not in down.pki.leaves
    up = _reconcile(down.pki, NOW, pods=(*PODS, "alpha-3"))
    assert {change.subject for change in up.changes} == {"alpha-2", "alpha-3"}


def test_ca_rotation_walks_through_its_three_steps() -> None:
    pki = _reconcile(None, NOW).pki
    old_ca = pki.ca
    rotate_at = NOW + timedelta(days=201)  # two thirds of 300 days
    quiet = _reconcile(pki, NOW + timedelta(days=199), _all_reporting(pki))
    assert all(change.reason != "CARotationStarted" for change in quiet.changes)

    started = _reconcile(quiet.pki, rotate_at, _all_reporting(quiet.pki))
    assert "CARotationStarted" in [change.reason for change in started.changes]
    assert started.phase is CaPhase.DISTRIBUTING_TRUST
    assert started.pki.retiring == old_ca and started.pki.ca != old_ca
    assert started.pki.trust_bundle() == started.pki.ca.certificate_pem + old_ca.certificate_pem
    for pod in PODS:  # leaves are untouched until every pod trusts the new CA
        _cert(started.pki.leaves[pod]).verify_directly_issued_by(old_ca.certificate)
    assert not started.ready

    partial = {pod: PodTrust(started.pki.fingerprint, started.pki.serial(pod)) for pod in PODS[:2]}
    partial["alpha-2"] = PodTrust(bundle_fingerprint(old_ca.certificate_pem), started.pki.serial("alpha-2"))
    waiting = _reconcile(started.pki, rotate_at, partial)
    assert waiting.changes == () and waiting.phase is CaPhase.DISTRIBUTING_TRUST
    assert "alpha-2" in waiting.message and "alpha-0" not in waiting.message
    # A pod added meanwhile gets a leaf from the old CA, which everybody still trusts.
    grown = _reconcile(started.pki, rotate_at, partial, pods=(*PODS, "alpha-3"))
    _cert(grown.pki.leaves["alpha-3"]).verify_directly_issued_by(old_ca.certificate)

    reissued = _reconcile(started.pki, rotate_at, _all_reporting(started.pki))
    assert reissued.phase is CaPhase.REISSUING
    assert {change.subject for change in reissued.changes} == {*PODS, "operator"}
    for name in (*PODS, "operator"):
        _cert(reissued.pki.leaves[name]).verify_directly_issued_by(reissued.pki.ca.certificate)
    assert reissued.pki.retiring == old_ca, "the old CA stays trusted while pods load their new leaves"

    done = _reconcile(reissued.pki, rotate_at, _all_reporting(reissued.pki))
    assert [change.reason for change in done.changes] == ["CARotationCompleted"]
    assert done.pki.retiring is None and done.pki.ca == reissued.pki.ca
    assert done.next_rotation > rotate_at + timedelta(days=50)


# -- the trust invariant, with pods loading files at their own pace ---------------------------
@dataclass
class Pod:
    bundle: bytes
    leaf: bytes


def _issuers(bundle: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(bundle)


def _trusts(holder: Pod, presented: Pod) -> bool:
    leaf = x509.load_pem_x509_certificate(presented.leaf)
    for ca in _issuers(holder.bundle):
        try:
            leaf.verify_directly_issued_by(ca)
        except Exception:
            continue
        return True
    return False


def _run_rotation(seed: int, *, honest_reports: bool = True) -> list[str]:
    """Pods load the Secrets' current files at random moments; returns every broken handshake."""
    rng = random.Random(seed)
    pki = _reconcile(None, NOW).pki
    pods = {name: Pod(pki.trust_bundle(), pki.leaves[name].certificate_pem) for name in PODS}
    broken: list[str] = []
    now = NOW + timedelta(days=201)
    for _step in range(40):
        if honest_reports:
            reports = {
                name: PodTrust(
                    bundle_fingerprint(pod.bundle),
                    format(x509.load_pem_x509_certificate(pod.leaf).serial_number, "x"),
                )
                for name, pod in pods.items()
            }
        else:  # an operator that does not wait: it assumes every pod has loaded everything
            reports = _all_reporting(pki)
        pki = _reconcile(pki, now, reports).pki
        for name, pod in pods.items():
            if rng.random() < 0.4:
                pod.bundle = pki.trust_bundle()
            if rng.random() < 0.4:
                pod.leaf = pki.leaves[name].certificate_pem
        broken += [f"{a} does not trust {b}" for a in pods for b in pods if not _trusts(pods[a], pods[b])]
        now += timedelta(minutes=1)
    assert pki.retiring is None, "the rotation finished"
    return broken


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32))
def test_no_handshake_breaks_during_a_ca_rotation(seed: int) -> None:
    assert _run_rotation(seed) == []


def test_the_trust_check_has_teeth() -> None:
    """An operator that reissues leaves without waiting for the pods breaks handshakes."""
    assert any(_run_rotation(seed, honest_reports=False) for seed in range(10))


def test_an_expired_ca_is_replaced_at_once() -> None:
    """Nothing is left to overlap with: every leaf moves to a new CA in one step."""
    pki = _reconcile(None, NOW).pki
    late = NOW + timedelta(days=400)  # the 300-day CA has expired
    outcome = _reconcile(pki, late, _all_reporting(pki))
    reasons = [change.reason for change in outcome.changes]
    assert reasons[:2] == ["CARotationStarted", "CAExpired"]
    assert outcome.pki.retiring is None
    for name in (*PODS, "operator"):
        _cert(outcome.pki.leaves[name]).verify_directly_issued_by(outcome.pki.ca.certificate)
        assert _cert(outcome.pki.leaves[name]).not_valid_after_utc > late
