"""The planner: ordered small actions, zero writes when nothing changed, and a status that tells
the truth (paused, missing Secrets, CPU isolation, refused changes, certificates)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
import yaml
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hive_operator.plan import Create, Delete, Event, MemberReport, PatchStatus, Plan, Update, plan
from hive_operator.plan import planner as planner_module
from hive_operator.specs import CREATION_ORDER
from tests.operator.apiserver_model import ApiServerModel
from tests.operator.conftest import CONTEXT, FULL_SPEC, NOW, cluster_manifest, parse

REFERENCED = {
    "fix-credentials": frozenset({"password"}),
    "market-data": frozenset({"feed"}),
    "backup-key": frozenset({"key"}),
    "s3-creds": frozenset({"accessKeyId", "secretAccessKey"}),
    "registry": frozenset({".dockerconfigjson"}),
}


def _plan(api: ApiServerModel, *, now: Any = NOW, **observed: Any) -> Plan:
    observed.setdefault("referenced_secrets", REFERENCED)
    return plan(api.observed(**observed), context=CONTEXT, now=now)


def _converge(api: ApiServerModel, **observed: Any) -> None:
    for _ in range(5):
        result = _plan(api, **observed)
        if not result.actions:
            return
        api.apply(result)
    raise AssertionError(f"no convergence: {_plan(api, **observed).actions}")


def _respec(api: ApiServerModel, **spec: Any) -> None:
    """The user edits the spec; the stored status stays."""
    api.cluster = parse(cluster_manifest(**spec)).model_copy(update={"status": api.cluster.status})


def _conditions(result: Plan) -> dict[str, Any]:
    return {c.type: c for c in result.status.conditions}


def _healthy_reports(api: ApiServerModel, **overrides: Any) -> dict[str, MemberReport]:
    replicas = api.cluster.spec.replicas
    cpus = api.cluster.spec.resources.cpu
    reports = {}
    for k in range(replicas):
        pod = f"alpha-{k}"
        secret = api.objects[("Secret", f"{pod}-tls")]["data"]
        bundle = base64.b64decode(secret["ca.crt"])
        certificate = x509.load_pem_x509_certificate(base64.b64decode(secret["tls.crt"]))
        values: dict[str, Any] = {
            "pod": pod,
            "node_id": k + 1,
            "role": "leader" if k == 0 else "follower",
            "voter": True,
            "term": 3,
            "version": api.cluster.spec.version,
            "ready": True,
            "cpuset": f"{2 * k + 2}-{2 * k + 1 + cpus}" if cpus > 1 else str(k + 2),
            "pinned": True,
            "certificate_serial": format(certificate.serial_number, "x"),
            "ca_bundle_fingerprint": hashlib.sha256(bundle).hexdigest(),
        }
        values.update(overrides.get(pod, {}))
        reports[pod] = MemberReport(**values)
    return reports


@pytest.fixture
def minimal() -> ApiServerModel:
    return ApiServerModel(parse(cluster_manifest()))


def test_a_new_cluster_is_created_in_order(minimal: ApiServerModel) -> None:
    result = _plan(minimal)
    creates = [a.object for a in result.actions if isinstance(a, Create)]
    order = [CREATION_ORDER.index(o["kind"]) for o in creates]
    assert order == sorted(order)
    assert creates[0]["kind"] == "ServiceAccount" and creates[-1]["kind"] == "Pod"
    assert [o["metadata"]["name"] for o in creates if o["kind"] == "Pod"] == ["alpha-0", "alpha-1", "alpha-2"]
    reasons = [a.reason for a in result.actions if isinstance(a, Event)]
    assert reasons.count("Created") == len(creates)
    assert "CACreated" in reasons and reasons.count("CertificateIssued") == 4
    assert isinstance(result.actions[-1], PatchStatus)
    conditions = _conditions(result)
    assert conditions["SecretsReady"].status == "True"
    assert conditions["Ready"].status == "False" and conditions["Ready"].reason == "NoLeader"
    assert conditions["Progressing"].status == "True"
    assert conditions["Paused"].status == "False"
    assert result.status.phase == "Bootstrapping"
    assert result.status.observed_generation == 1


def test_an_up_to_date_cluster_plans_zero_writes(minimal: ApiServerModel) -> None:
    minimal.apply(_plan(minimal))
    assert _plan(minimal).actions == ()
    reports = _healthy_reports(minimal)
    became_ready = _plan(minimal, members=reports)
    assert [type(a) for a in became_ready.actions] == [PatchStatus]
    minimal.apply(became_ready)
    again = _plan(minimal, members=reports)
    assert again.actions == () and again.writes == 0
    conditions = _conditions(again)
    assert conditions["Ready"].status == "True"
    assert conditions["CertificatesReady"].status == "True"
    assert conditions["CPUIsolated"].status == "True"
    assert again.status.phase == "Running" and again.status.leader == "alpha-0"
    assert again.status.ready_replicas == 3
    assert [m.pod for m in again.status.members] == ["alpha-0", "alpha-1", "alpha-2"]


def test_owned_field_comparison_has_teeth(minimal: ApiServerModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A planner comparing whole objects would update forever because of the API server's defaults."""
    minimal.apply(_plan(minimal))
    monkeypatch.setattr(
        planner_module, "differences", lambda d, o: [] if dict(d) == dict(o) else ["(object)"]
    )
    assert any(isinstance(a, Update) for a in _plan(minimal).actions)


def test_drift_is_restored_and_foreign_additions_are_left_alone(minimal: ApiServerModel) -> None:
    _converge(minimal)
    service = minimal.objects[("Service", "alpha")]
    service["spec"]["ports"][0]["port"] = 1
    service["metadata"]["labels"]["other.io/team"] = "x"
    pod = minimal.objects[("Pod", "alpha-1")]
    pod["metadata"]["labels"]["app.kubernetes.io/instance"] = "other"
    pod["metadata"]["labels"]["other.io/team"] = "x"
    del minimal.objects[("Service", "alpha-peers")]
    result = _plan(minimal)
    updates = {u.object["metadata"]["name"]: u.fields for u in result.actions if isinstance(u, Update)}
    assert updates == {
        "alpha": ("spec.ports[0].port",),
        "alpha-1": ("metadata.labels.app.kubernetes.io/instance",),
    }
    assert "spec" not in next(
        u.object for u in result.actions if isinstance(u, Update) and u.object["kind"] == "Pod"
    )
    assert [a.object["metadata"]["name"] for a in result.actions if isinstance(a, Create)] == ["alpha-peers"]
    minimal.apply(result)
    assert _plan(minimal).actions == ()
    assert minimal.objects[("Service", "alpha")]["metadata"]["labels"]["other.io/team"] == "x"
    assert minimal.objects[("Pod", "alpha-1")]["metadata"]["labels"]["other.io/team"] == "x"


def test_a_removed_option_deletes_its_object_and_a_dropped_field_is_noticed() -> None:
    api = ApiServerModel(parse(cluster_manifest(monitoring={"serviceMonitor": True, "prometheusRule": True})))
    _converge(api)
    _respec(api, scheduling={"zoneSpread": False})
    result = _plan(api)
    deletes = {(a.kind, a.name) for a in result.actions if isinstance(a, Delete) and a.kind != "Pod"}
    assert deletes == {("ServiceMonitor", "alpha"), ("PrometheusRule", "alpha")}
    # Topology spread dropped: a field we stopped setting changes the pods' hash, so the pods
    # (no member reports: none serving) are replaced, all at once.
    replaced = sorted(a.name for a in result.actions if isinstance(a, Delete) and a.kind == "Pod")
    assert replaced == ["alpha-0", "alpha-1", "alpha-2"]
    assert not [a for a in result.actions if isinstance(a, Update)]
    api.apply(result)
    recreated = _plan(api)
    pods = [a.object for a in recreated.actions if isinstance(a, Create) and a.object["kind"] == "Pod"]
    assert len(pods) == 3 and all("topologySpreadConstraints" not in p["spec"] for p in pods)
    api.apply(recreated)
    assert _plan(api).actions == ()


def test_paused_plans_no_changes(minimal: ApiServerModel) -> None:
    _converge(minimal)
    _respec(minimal, paused=True, resources={"cpu": 8})
    result = _plan(minimal)
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
    assert _conditions(result)["Paused"].status == "True"
    assert result.status.phase == "Paused"
    assert [a.reason for a in result.actions if isinstance(a, Event)] == ["PausedBySpec"]
    minimal.apply(result)
    assert _plan(minimal).actions == ()
    _respec(minimal, paused=False, resources={"cpu": 8})
    resumed = _plan(minimal)
    assert "Resumed" in [a.reason for a in resumed.actions if isinstance(a, Event)]
    assert any(isinstance(a, Delete) and a.kind == "Pod" for a in resumed.actions)


def test_a_new_paused_cluster_makes_no_keys(minimal: ApiServerModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys made while held would be discarded and made again at every reconcile."""
    _respec(minimal, paused=True)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a held cluster with no PKI must not generate keys")

    monkeypatch.setattr("hive_operator.plan.planner.reconcile_pki", refuse)
    result = _plan(minimal)
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
    assert _conditions(result)["CertificatesReady"].reason == "NotIssued"
    assert _conditions(result)["Paused"].status == "True"


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        ({}, "Secret fix-credentials (spec.secrets[0]) does not exist"),
        (
            {"fix-credentials": frozenset({"user"})},
            "Secret fix-credentials (spec.secrets[0]) has no key password",
        ),
    ],
)
def test_a_missing_secret_or_key_changes_nothing_and_is_named(
    present: dict[str, frozenset[str]], expected: str
) -> None:
    spec = {"secrets": [{"name": "fix-credentials", "items": [{"key": "password", "path": "pw"}]}]}
    api = ApiServerModel(parse(cluster_manifest(**spec)))
    result = _plan(api, referenced_secrets=present)
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
    condition = _conditions(result)["SecretsReady"]
    assert condition.status == "False" and expected in condition.message
    warnings = [a for a in result.actions if isinstance(a, Event) and a.type == "Warning"]
    assert [w.reason for w in warnings] == ["SecretMissing"]
    api.apply(result)
    assert _plan(api, referenced_secrets=present).actions == ()
    fixed = _plan(api, referenced_secrets={"fix-credentials": frozenset({"password"})})
    assert any(isinstance(a, Create) for a in fixed.actions)


def test_cpu_isolation_is_judged_from_what_pods_report(minimal: ApiServerModel) -> None:
    _converge(minimal)
    reports = _healthy_reports(minimal, **{"alpha-1": {"cpuset": "0-1", "pinned": False}})
    reports["alpha-1"] = MemberReport(**{**reports["alpha-1"].__dict__, "cpuset": "0-3"})
    condition = _conditions(_plan(minimal, members=reports))["CPUIsolated"]
    assert condition.status == "False"
    assert condition.message == "pod alpha-1 got 4 shared CPUs; enable the kubelet static CPU manager policy"


def test_an_immutable_change_is_refused_not_attempted(minimal: ApiServerModel) -> None:
    _converge(minimal)
    _respec(minimal, storage={"size": "40Gi"})
    result = _plan(minimal)
    assert not [a for a in result.actions if isinstance(a, Create | Delete)]
    for action in result.actions:
        if isinstance(action, Update):  # the hash annotation follows; the claim's spec does not
            assert action.object["spec"]["resources"]["requests"]["storage"] == "20Gi"
    degraded = _conditions(result)["Degraded"]
    assert degraded.status == "True"
    assert (
        "PersistentVolumeClaim data-alpha-0: spec.resources.requests.storage cannot change"
        in degraded.message
    )
    minimal.apply(result)
    assert _plan(minimal).actions == ()


def test_leaf_rotation_rewrites_only_the_secrets(minimal: ApiServerModel) -> None:
    _converge(minimal)
    later = NOW + timedelta(days=61)  # past two thirds of the default 90-day leaves
    result = _plan(minimal, now=later)
    updated = {a.object["metadata"]["name"] for a in result.actions if isinstance(a, Update)}
    assert updated == {"alpha-0-tls", "alpha-1-tls", "alpha-2-tls", "alpha-operator-tls"}, (
        "a rotation never touches the pods"
    )
    assert not [a for a in result.actions if isinstance(a, Create | Delete)]
    assert [
        a.reason for a in result.actions if isinstance(a, Event) and a.reason.startswith("Certificate")
    ] == ["CertificateRotated"] * 4
    minimal.apply(result)
    assert [type(a) for a in _plan(minimal, now=later).actions] == []


def test_scaling_up_keeps_the_bootstrap_voters(minimal: ApiServerModel) -> None:
    _converge(minimal)
    _respec(minimal, replicas=5)
    result = _plan(minimal)
    [config_map] = [
        a.object for a in result.actions if isinstance(a, Update) and a.object["kind"] == "ConfigMap"
    ]
    for pod in ("alpha-0", "alpha-3", "alpha-4"):
        ids = [m["id"] for m in yaml.safe_load(config_map["data"][f"{pod}.yaml"])["initial_members"]]
        assert ids == [1, 2, 3]


def test_a_missing_monitoring_crd_is_reported() -> None:
    api = ApiServerModel(parse(cluster_manifest(monitoring={"serviceMonitor": True})))
    result = _plan(api, available_kinds=frozenset())
    assert not any(isinstance(a, Create) and a.object["kind"] == "ServiceMonitor" for a in result.actions)
    assert "ServiceMonitor CRD" in _conditions(result)["Degraded"].message


def _secret_material(api: ApiServerModel) -> set[str]:
    found = set()
    for (kind, _), obj in api.objects.items():
        if kind == "Secret":
            for value in obj["data"].values():
                raw = base64.b64decode(value)
                if b"PRIVATE KEY" in raw:
                    found.add(value[:48])
                    found.add(b"".join(raw.splitlines()[1:2]).decode()[:40])
    return found


def test_secret_values_never_leave_secret_data() -> None:
    api = ApiServerModel(parse(cluster_manifest(**FULL_SPEC)))
    results = []
    for now in (NOW, NOW + timedelta(days=61), NOW + timedelta(days=5000)):
        result = _plan(api, now=now)
        results.append(result)
        api.apply(result)
    secrets = _secret_material(api)
    assert secrets
    texts = [json.dumps(results[-1].status.model_dump(mode="json"))]
    for result in results:
        for action in result.actions:
            if isinstance(action, Event):
                texts.append(action.message)
            elif isinstance(action, Update):
                texts.append(" ".join(action.fields))
            if isinstance(action, Create | Update) and action.object["kind"] != "Secret":
                texts.append(json.dumps(action.object))
            elif isinstance(action, Create | Update):
                texts.append(json.dumps({k: v for k, v in action.object.items() if k != "data"}))
    for text in texts:
        for value in secrets:
            assert value not in text


# -- property: whatever the spec and whatever happened to the objects, one plan settles it ------
SPECS = st.fixed_dictionaries(
    {
        "replicas": st.sampled_from([1, 3, 5]),
        "resources": st.fixed_dictionaries(
            {"cpu": st.integers(1, 8), "memory": st.sampled_from(["1Gi", "4096Mi"])}
        ),
        "scheduling": st.fixed_dictionaries(
            {"antiAffinity": st.sampled_from(["Required", "Preferred"]), "zoneSpread": st.booleans()}
        ),
        "monitoring": st.fixed_dictionaries(
            {"serviceMonitor": st.booleans(), "prometheusRule": st.booleans()}
        ),
        "paused": st.booleans(),
        "secrets": st.sampled_from([[], [{"name": "market-data"}]]),
    }
)


def _perturb(api: ApiServerModel, data: st.DataObject) -> None:
    keys = sorted(api.objects)
    if not keys:
        return
    key = data.draw(st.sampled_from(keys))
    choice = data.draw(st.sampled_from(["delete", "label", "foreign", "image", "data"]))
    obj = api.objects[key]
    if choice == "delete":
        del api.objects[key]
    elif choice == "label":
        obj["metadata"]["labels"]["app.kubernetes.io/version"] = "0.0.1"
    elif choice == "foreign":
        obj["metadata"]["labels"]["other.io/owner"] = "someone"
    elif choice == "image" and key[0] == "Pod":
        obj["spec"]["containers"][0]["image"] = "x:1"
    elif choice == "data" and "data" in obj:
        obj["data"]["stray"] = base64.b64encode(b"x").decode()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(first=SPECS, second=SPECS, data=st.data())
def test_applying_a_plan_leaves_nothing_to_do(
    first: dict[str, Any], second: dict[str, Any], data: st.DataObject
) -> None:
    api = ApiServerModel(parse(cluster_manifest(**first)))
    for spec in (first, second):
        _respec(api, **spec)
        _settle(api)
        _perturb(api, data)
        result = _plan(api)
        if spec["paused"]:
            assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)]
        api.apply(result)
        _settle(api)


def _settle(api: ApiServerModel) -> None:
    """Two plans at most: a replaced pod is deleted by one and created by the next."""
    for _ in range(2):
        result = _plan(api)
        if not result.actions:
            return
        created = {
            (a.object["kind"], a.object["metadata"]["name"]) for a in result.actions if isinstance(a, Create)
        }
        deleted = {(a.kind, a.name) for a in result.actions if isinstance(a, Delete)}
        assert not created & deleted, "an object is never deleted and created in one plan"
        api.apply(result)
    after = _plan(api)
    assert after.actions == (), f"not idempotent: {after.actions}"


def test_fields_not_acted_on_are_named_and_a_restore_creates_nothing() -> None:
    api = ApiServerModel(parse(cluster_manifest(**FULL_SPEC)))
    degraded = _conditions(_plan(api))["Degraded"]
    assert degraded.status == "True" and degraded.reason == "Unsupported"
    assert "spec.backup: scheduled backups are not taken" in degraded.message
    restore = {"fromBackup": {"backupName": "nightly", "encryptionKeySecret": {"name": "backup-key"}}}
    api = ApiServerModel(parse(cluster_manifest(bootstrap=restore)))
    result = _plan(api)
    assert not [a for a in result.actions if isinstance(a, Create | Update | Delete)], "no empty cluster"
    message = _conditions(result)["Degraded"].message
    assert "spec.bootstrap.fromBackup: restoring is not implemented" in message


def test_a_claim_left_by_an_earlier_cluster_of_the_same_name_is_not_taken_over() -> None:
    api = ApiServerModel(parse(cluster_manifest()))
    result = _plan(api, foreign_claims=frozenset({"data-alpha-1", "data-other-0"}))
    created = {
        (a.object["kind"], a.object["metadata"]["name"]) for a in result.actions if isinstance(a, Create)
    }
    assert ("PersistentVolumeClaim", "data-alpha-1") not in created and ("Pod", "alpha-1") not in created
    assert ("Pod", "alpha-0") in created and ("Pod", "alpha-2") in created
    degraded = _conditions(result)["Degraded"]
    assert "PersistentVolumeClaim data-alpha-1 holds the data of an earlier HiveCluster named alpha" in (
        degraded.message
    )
    assert "data-other-0" not in degraded.message
