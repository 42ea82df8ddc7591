"""The spec builders: every object valid for Kubernetes 1.30 onwards, labelled, owned, and the runtime
pods Guaranteed, locked down and configured through files only."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from hive_operator.api import HiveCluster
from hive_operator.pki import audit_public_key
from hive_operator.specs import (
    CLUSTER_LABEL,
    PORTS,
    Membership,
    names_of,
    read_audit_keys,
    read_pki,
    runtime_config,
)
from hive_runtime.config import validate_config
from tests.operator.conftest import FULL_SPEC, build, cluster_manifest, material, parse

VERSIONS = sorted(
    {v for v in kubernetes_validate.utils.all_versions() if tuple(map(int, v.split(".")[:2])) >= (1, 30)},
    key=lambda v: tuple(map(int, v.split("."))),
)
PROMETHEUS_KINDS = {"ServiceMonitor", "PrometheusRule"}


def _by_kind(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def _pod_spec(objects: list[dict[str, Any]], ordinal: int = 0) -> dict[str, Any]:
    return _by_kind(objects, "Pod", f"alpha-{ordinal}")["spec"]  # type: ignore[no-any-return]


def test_versions_cover_1_30_to_the_newest() -> None:
    assert VERSIONS[0] == "1.30.0"
    assert VERSIONS[-1] == kubernetes_validate.latest_version()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(cluster: HiveCluster, version: str) -> None:
    for obj in build(cluster):
        if obj["kind"] in PROMETHEUS_KINDS:
            continue  # a CRD of the Prometheus Operator: no schema in kubernetes-validate
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_schema_check_has_teeth(cluster: HiveCluster) -> None:
    pod = _by_kind(build(cluster), "Pod", "alpha-0")
    pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystm"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, VERSIONS[0], strict=True)


def test_every_object_is_labelled_and_owned(cluster: HiveCluster) -> None:
    for obj in build(cluster):
        meta = obj["metadata"]
        assert meta["namespace"] == "prod"
        labels = meta["labels"]
        assert labels[CLUSTER_LABEL] == "alpha"
        for key in ("name", "instance", "component", "part-of", "managed-by"):
            assert labels[f"app.kubernetes.io/{key}"], key
        if obj["kind"] == "PersistentVolumeClaim":
            # A claim is never replaced: no version label. Retained claims have no owner at all
            # (garbage collection must not reach them) and name their cluster by uid instead.
            assert "app.kubernetes.io/version" not in labels
            if cluster.spec.storage.retention_policy.value == "Retain":
                assert "ownerReferences" not in meta
                assert meta["annotations"] == {"hive.dev/claim-of": "0f7d7a43-1a7e-4c1e-9d57-3d3b0d9c1a11"}
                continue
        else:
            assert labels["app.kubernetes.io/version"] == "1.2.3"
        [owner] = meta["ownerReferences"]
        assert owner == {
            "apiVersion": "hive.dev/v1alpha1",
            "kind": "HiveCluster",
            "name": "alpha",
            "uid": "0f7d7a43-1a7e-4c1e-9d57-3d3b0d9c1a11",
            "controller": True,
            "blockOwnerDeletion": True,
        }


def test_the_expected_objects_exist(cluster: HiveCluster) -> None:
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in build(cluster))
    expected = [
        ("ConfigMap", "alpha-config"),
        ("NetworkPolicy", "alpha"),
        ("PodDisruptionBudget", "alpha"),
        ("Secret", "alpha-ca"),
        ("Secret", "alpha-operator-tls"),
        ("Service", "alpha"),
        ("Service", "alpha-peers"),
        ("ServiceAccount", "alpha-runtime"),
    ]
    for k in range(cluster.spec.replicas):
        expected += [
            ("Pod", f"alpha-{k}"),
            ("PersistentVolumeClaim", f"data-alpha-{k}"),
            ("Secret", f"alpha-{k}-tls"),
            ("Secret", f"alpha-{k}-audit"),
        ]
    if cluster.spec.monitoring.service_monitor:
        expected += [("PrometheusRule", "alpha"), ("ServiceMonitor", "alpha")]
    assert kinds == sorted(expected)


def test_pods_are_guaranteed_with_whole_cpus(cluster: HiveCluster) -> None:
    pod = _pod_spec(build(cluster))
    for container in pod["containers"] + pod.get("initContainers", []):
        resources = container["resources"]
        assert resources["requests"] == resources["limits"]
        assert set(resources["requests"]) >= {"cpu", "memory"}
        assert resources["requests"]["cpu"] == str(cluster.spec.resources.cpu)
        assert resources["requests"]["cpu"].isdigit()


def test_pods_are_locked_down(cluster: HiveCluster) -> None:
    objects = build(cluster)
    pod = _pod_spec(objects)
    assert pod["automountServiceAccountToken"] is False
    assert _by_kind(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert context["runAsNonRoot"] is True


def test_secrets_reach_pods_as_files_only(cluster: HiveCluster) -> None:
    objects = build(cluster)
    for ordinal in range(cluster.spec.replicas):
        pod = _pod_spec(objects, ordinal)
        for container in pod["containers"]:
            assert "envFrom" not in container
            for variable in container["env"]:
                assert set(variable) == {"name", "valueFrom"}
                assert set(variable["valueFrom"]) == {"fieldRef"}, "no secretKeyRef or configMapKeyRef"
            assert {v["name"] for v in container["env"]} == {"POD_NAME", "POD_IP"}
        secret_volumes = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        own = {f"alpha-{ordinal}-tls", f"alpha-{ordinal}-audit"}
        assert own <= secret_volumes
        # Its own key only: no other replica's certificate or audit key, no CA key, no operator key.
        others = {
            f"alpha-{k}-{kind}"
            for k in range(cluster.spec.replicas)
            if k != ordinal
            for kind in ("tls", "audit")
        }
        assert not secret_volumes & (others | {"alpha-ca", "alpha-operator-tls"})
        for mount in cluster.spec.secrets:
            assert mount.name in secret_volumes
        [config] = [v["configMap"] for v in pod["volumes"] if "configMap" in v]
        assert config["items"] == [{"key": f"alpha-{ordinal}.yaml", "path": "runtime.yaml"}]


def test_probes_use_the_probe_port_and_the_grace_period_covers_a_handover(cluster: HiveCluster) -> None:
    pod = _pod_spec(build(cluster))
    [container] = pod["containers"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["probe"] == PORTS["probe"]
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "probe"
    assert pod["terminationGracePeriodSeconds"] >= 30 + 10  # leader transfer timeout (30s) plus margin


def test_the_runtime_binds_its_pod_ip_and_reads_its_own_config(cluster: HiveCluster) -> None:
    [container] = _pod_spec(build(cluster))["containers"]
    assert "--config=/etc/hive/config/runtime.yaml" in container["args"]
    for name, port in PORTS.items():
        assert f"--set=listen.{name}=$(POD_IP):{port}" in container["args"]


def test_pods_and_claims_shape(cluster: HiveCluster) -> None:
    objects = build(cluster)
    selector = _by_kind(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in selector
    for k in range(cluster.spec.replicas):
        pod = _by_kind(objects, "Pod", f"alpha-{k}")
        assert pod["spec"]["hostname"] == f"alpha-{k}" and pod["spec"]["subdomain"] == "alpha-peers"
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert pod["metadata"]["labels"]["hive.dev/pod"] == f"alpha-{k}"
        assert len(pod["metadata"]["annotations"]["hive.dev/config-digest"]) == 16
        [data] = [v for v in pod["spec"]["volumes"] if v["name"] == "data"]
        assert data["persistentVolumeClaim"] == {"claimName": f"data-alpha-{k}"}
        claim = _by_kind(objects, "PersistentVolumeClaim", f"data-alpha-{k}")
        assert claim["spec"]["resources"]["requests"]["storage"] == cluster.spec.storage.size
        assert not selector.items() <= claim["metadata"]["labels"].items(), "claims are not pods"


def test_services_pdb_and_network_policy(cluster: HiveCluster) -> None:
    objects = build(cluster)
    peers = _by_kind(objects, "Service", "alpha-peers")["spec"]
    assert peers["clusterIP"] == "None" and peers["publishNotReadyAddresses"] is True
    client = _by_kind(objects, "Service", "alpha")["spec"]
    assert [p["port"] for p in client["ports"]] == [PORTS["client"]]
    assert _by_kind(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    ingress = _by_kind(objects, "NetworkPolicy")["spec"]["ingress"]
    by_port: dict[int, list[Any]] = {}
    for rule in ingress:
        for port in rule["ports"]:
            by_port.setdefault(port["port"], []).append(rule.get("from"))
    members = {
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "hive",
                "app.kubernetes.io/instance": "alpha",
                "app.kubernetes.io/component": "runtime",
            }
        }
    }
    assert by_port[PORTS["peer"]] == [[members]]
    operator = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "hive-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "hive-operator"}},
    }
    assert by_port[PORTS["admin"]] == [[operator]]
    client_sources = [source for sources in by_port[PORTS["client"]] for source in sources]
    assert operator in client_sources
    if cluster.spec.network.client_from:
        assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in client_sources
        assert {
            "podSelector": {"matchLabels": {"app": "gateway"}},
            "namespaceSelector": {"matchLabels": {"team": "trading"}},
        } in client_sources
    else:
        assert {"podSelector": {}} in client_sources  # the cluster's own namespace


def test_placement_options_reach_the_pod() -> None:
    full = _pod_spec(build(parse(cluster_manifest(**FULL_SPEC))))
    assert full["runtimeClassName"] == "performance"
    assert full["nodeSelector"] == {"node-role.kubernetes.io/trading": ""}
    assert full["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "trading", "effect": "NoSchedule"}
    ]
    assert "preferredDuringSchedulingIgnoredDuringExecution" in full["affinity"]["podAntiAffinity"]
    assert full["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    pod = _by_kind(build(parse(cluster_manifest(**FULL_SPEC))), "Pod", "alpha-0")
    annotations = {k: v for k, v in pod["metadata"]["annotations"].items() if k != "hive.dev/config-digest"}
    assert annotations == {
        "cpu-quota.crio.io": "disable",
        "cpu-load-balancing.crio.io": "disable",
        "irq-load-balancing.crio.io": "disable",
    }
    minimal = _pod_spec(build(parse(cluster_manifest())))
    required = minimal["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert required[0]["topologyKey"] == "kubernetes.io/hostname"
    assert "runtimeClassName" not in minimal and "nodeSelector" not in minimal


def test_each_pod_config_is_a_valid_runtime_config(cluster: HiveCluster) -> None:
    objects = build(cluster)
    data = _by_kind(objects, "ConfigMap")["data"]
    pod = _pod_spec(objects)
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    assert sorted(data) == [f"alpha-{k}.yaml" for k in range(cluster.spec.replicas)]
    for ordinal in range(cluster.spec.replicas):
        peer_tls = _by_kind(objects, "Secret", f"alpha-{ordinal}-tls")["data"]
        audit = _by_kind(objects, "Secret", f"alpha-{ordinal}-audit")["data"]
        config = validate_config(yaml.safe_load(data[f"alpha-{ordinal}.yaml"]))
        assert config.node_id == ordinal + 1 and config.member_name == f"alpha-{ordinal}"
        assert config.initial_voters == frozenset(range(1, cluster.spec.replicas + 1))
        assert config.membership == "bootstrap"
        assert config.shutdown.transfer_timeout_seconds == 30.0  # spec.upgrade.timeouts.leaderTransfer
        assert config.peer_address(ordinal + 1) == (f"alpha-{ordinal}.alpha-peers.prod.svc", PORTS["peer"])
        for path in (config.tls.ca, config.tls.cert, config.tls.key):
            assert str(path.parent) in mounts and mounts[str(path.parent)] == "tls"
            assert path.name in peer_tls
        assert config.audit_key_file is not None and config.audit_key_file.name in audit
        assert str(config.data_dir).startswith("/var/lib/hive/")
        # the register space is a test and benchmark aid: never rendered, so always off
        assert "register_space" not in yaml.safe_load(data[f"alpha-{ordinal}.yaml"])
        assert config.register_space is False
        if cluster.spec.backup is not None:
            assert config.backup_key_file is not None
            assert str(config.backup_key_file.parent) in mounts


def test_a_joining_ordinal_is_not_an_initial_voter() -> None:
    cluster = parse(cluster_manifest(replicas=3))
    config = validate_config(runtime_config(cluster, 3, Membership.new_cluster(3)))
    assert config.node_id == 4 and 4 not in config.initial_voters
    assert config.membership == "join"
    assert config.peer_address(4) == ("alpha-3.alpha-peers.prod.svc", PORTS["peer"])


def test_secret_values_appear_only_in_secret_data(cluster: HiveCluster) -> None:
    objects = build(cluster)
    values: set[str] = set()
    for secret in (o for o in objects if o["kind"] == "Secret"):
        for encoded in secret["data"].values():
            raw = base64.b64decode(encoded)
            if b"PRIVATE KEY" in raw:
                values.add(encoded)
                body = b"".join(line for line in raw.splitlines() if not line.startswith(b"-----"))
                values.add(body.decode()[:40])
    assert values, "the scan looks for something"
    for obj in objects:
        text = yaml.safe_dump({k: v for k, v in obj.items() if not (obj["kind"] == "Secret" and k == "data")})
        for value in values:
            assert value not in text, f"a secret value leaked into {obj['kind']} {obj['metadata']['name']}"


def test_secrets_read_back_to_the_same_material(cluster: HiveCluster) -> None:
    pki, keys = material(cluster)
    objects = build(cluster, (pki, keys))
    observed = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Secret"}
    stored = read_pki(cluster, observed)
    assert stored is not None
    assert stored.ca.certificate_pem == pki.ca.certificate_pem
    assert set(stored.leaves) == set(pki.leaves)
    audit = read_audit_keys(cluster, observed)
    assert set(audit) == {names_of(cluster).pod(k) for k in range(cluster.spec.replicas)}
    for pod, private in audit.items():
        public = base64.b64decode(observed[f"{pod}-audit"]["data"]["audit.pub"])
        assert public == audit_public_key(private)
    assert audit == keys


def test_monitoring_objects() -> None:
    objects = build(parse(cluster_manifest(**FULL_SPEC)))
    monitor = _by_kind(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    peers = _by_kind(objects, "Service", "alpha-peers")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= peers["metadata"]["labels"].items()
    assert "metrics" in {p["name"] for p in peers["spec"]["ports"]}
    rule = _by_kind(objects, "PrometheusRule")
    assert {r["alert"] for r in rule["spec"]["groups"][0]["rules"]} >= {
        "HiveNoLeader",
        "HiveCertificateExpiresSoon",
    }
