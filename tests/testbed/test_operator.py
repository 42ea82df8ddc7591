"""The operator on the real control plane, as a process with its own kubeconfig.

The chart's ServiceAccount and RBAC are rendered with helm and applied; the operator runs as a
local process (``hive operator run``) authenticated by a token of that ServiceAccount, so a
permission the chart lacks fails these tests (RBAC is enforced by the API server). A HiveCluster
is applied with kubectl and driven through its life: Ready with a leader the runtime reports,
a quiet reconcile that writes nothing (counted in the API server's audit log by the operator's
user), deleted and edited children restored by the child watches well within a timer period, the
leader's pod killed, a referenced Secret broken, pause and resume, a leaf certificate reissued
with no pod restart, and deletion behind the finalizer; then a second cluster whose short-lived CA
rotates with an overlapping bundle and no pod restart, single-namespace mode, and two peering
operators (active/standby) with the active one killed.

The tests of this module share one operator and one HiveCluster and run in file order.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from hive_operator.api.risk import RiskLimits
from hive_operator.plan.risk import expected_hash, risk_defaults
from hive_testbed.certmanager import CertManager, bootstrap_ca_issuer
from hive_testbed.kubectl import Kubectl, wait_for
from hive_testbed.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]
HELM = Path(sys.executable).parent / "helm"
CLUSTER = "alpha"
INTERVAL = 3  # the operator's timer period in these tests (seconds)
SECRET_VALUE = "s3cr3t-" + uuid.uuid4().hex  # must never appear anywhere but the Secret


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Operator:
    namespace: str  # where its ServiceAccount lives
    user: str
    metrics_url: str
    log: Path
    audit_log: Path
    process: subprocess.Popen[bytes]

    def metric(self, name: str, **labels: str) -> float:
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] != name:
                continue
            if all(f'{key}="{val}"' in head for key, val in labels.items()):
                total += float(value)
        return total

    def writes(self) -> list[dict[str, Any]]:
        """Every write the operator's user made, as the API server's audit log recorded it."""
        found = []
        for line in self.audit_log.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("stage") == "ResponseComplete" and entry["user"]["username"] == self.user:
                found.append(entry)
        return found


def _kubeconfig_for_token(admin: Path, token: str, target: Path) -> None:
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]["cluster"]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bed", "cluster": cluster}],
        "users": [{"name": "hive-operator", "user": {"token": token}}],
        "contexts": [{"name": "bed", "context": {"cluster": "bed", "user": "hive-operator"}}],
        "current-context": "bed",
    }
    target.touch(mode=0o600)
    target.write_text(yaml.safe_dump(document))


@pytest.fixture(scope="module")
def module_kubectl(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(cluster.kubeconfig, tmp_path_factory.mktemp("kube-cache"))


def start_operator(
    cluster: Any,
    kubectl: Kubectl,
    directory: Path,
    *,
    scope: list[str],
    values: list[str],
    extra: tuple[str, ...] = (),
    home: str | None = None,
) -> Operator:
    """The chart's RBAC (helm template with ``values``) applied in ``home`` (a new namespace when
    None), and ``hive operator run ...scope ...extra`` started under its ServiceAccount's token."""
    if home is None:
        home = f"hive-op-{uuid.uuid4().hex[:6]}"
        kubectl("create", "namespace", home)
    settings = [arg for value in ["operator.replicas=0", *values] for arg in ("--set", value)]
    rendered = subprocess.run(
        [str(HELM), "template", "hive", str(REPO / "charts/hive"), "-n", home, *settings],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    kubectl("apply", "-f", "-", stdin=rendered)  # every namespaced object names its namespace
    token = kubectl("create", "token", "hive-operator", "-n", home, "--duration=3h").stdout.strip()
    kubeconfig = directory / "kubeconfig"
    _kubeconfig_for_token(cluster.kubeconfig, token, kubeconfig)
    metrics, liveness = _free_port(), _free_port()
    log = directory / "operator.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hive_cli.main",
                "operator",
                "run",
                *scope,
                f"--kubeconfig={kubeconfig}",
                f"--operator-namespace={home}",
                f"--metrics-address=127.0.0.1:{metrics}",
                f"--liveness-address=127.0.0.1:{liveness}",
                f"--interval={INTERVAL}",
                *extra,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        )

    def alive() -> bool:
        assert process.poll() is None, f"the operator exited:\n{log.read_text()[-3000:]}"
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(alive, seconds=60, what="the operator's liveness endpoint")
    except BaseException:
        stop_operator(process)
        raise
    return Operator(
        namespace=home,
        user=f"system:serviceaccount:{home}:hive-operator",
        metrics_url=f"http://127.0.0.1:{metrics}/metrics",
        log=log,
        audit_log=cluster.plane.layout.audit_log,
        process=process,
    )


def stop_operator(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="module")
def operator(
    cluster: Any, module_kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    assert cluster.plane is not None, "the audit log is read from the bed's own API server"
    running = start_operator(
        cluster, module_kubectl, tmp_path_factory.mktemp("operator"), scope=["--all-namespaces"], values=[]
    )
    try:
        yield running
    finally:
        stop_operator(running.process)


def _new_namespace(api: RawClient, kubectl: Kubectl) -> str:
    """A fresh namespace, once it has its default ServiceAccount (pods need it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    wait_for(
        lambda: api.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").status == 200,
        seconds=30,
        what="the default service account",
    )
    return name


@pytest.fixture(scope="module")
def ns(api: RawClient, module_kubectl: Kubectl) -> str:
    return _new_namespace(api, module_kubectl)


# How the API server words an RBAC refusal ("... is forbidden: User "system:serviceaccount:..."
# cannot create resource ..."); other 403s, such as writing into a namespace being deleted by an
# earlier module, are not about the chart's rules.
RBAC_REFUSAL = 'is forbidden: User "'
RISK_LIMITS = {"maxOrderQuantity": 50, "maxNetPosition": 40_000}


def _manifest(namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {"name": CLUSTER, "namespace": namespace},
        "spec": {
            "version": "0.1.0",
            "replicas": 3,
            "resources": {"cpu": 1, "memory": "512Mi"},
            "storage": {"size": "1Gi"},
            "secrets": [{"name": "fix-credentials", "items": [{"key": "password", "path": "fix/password"}]}],
            "risk": {"limits": RISK_LIMITS},
            **spec,
        },
    }


def _hive(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    return dict(kubectl.json("get", "hivecluster", CLUSTER, "-n", namespace))


def _condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body.get("status", {}).get("conditions", []) if c["type"] == kind)


def _pods(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in kubectl.pods(namespace, f"hive.dev/cluster={CLUSTER}")}


@pytest.fixture(scope="module")
def ready(operator: Operator, module_kubectl: Kubectl, ns: str) -> dict[str, Any]:
    """The HiveCluster applied with kubectl and Ready (seconds to Ready recorded in the body)."""
    kubectl = module_kubectl
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "fix-credentials", "namespace": ns},
        "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode()},
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(secret))
    started = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(_manifest(ns)))
    waited = kubectl(
        "wait",
        "--for=condition=Ready",
        f"hivecluster/{CLUSTER}",
        "-n",
        ns,
        "--timeout=150s",
        timeout=160,
        check=False,
    )
    body = _hive(kubectl, ns)
    assert waited.returncode == 0, (
        f"not Ready: {json.dumps(body.get('status'), indent=1)}\n"
        f"operator log:\n{operator.log.read_text()[-4000:]}"
    )
    body["secondsToReady"] = time.monotonic() - started
    return body


def test_apply_to_ready_with_every_object_and_pod_field(
    ready: dict[str, Any], module_kubectl: Kubectl, ns: str, operator: Operator
) -> None:
    kubectl = module_kubectl
    print(f"apply to Ready: {ready['secondsToReady']:.1f} s")
    status = ready["status"]
    assert status["phase"] == "Running"
    assert status["leader"] in {f"{CLUSTER}-{k}" for k in range(3)}
    assert status["readyReplicas"] == 3 and status["observedGeneration"] == ready["metadata"]["generation"]
    assert {m["pod"] for m in status["members"]} == {f"{CLUSTER}-{k}" for k in range(3)}
    assert all(
        m["ready"] and m["voter"] and m["nodeId"] and m["certificateSerial"] for m in status["members"]
    )
    roles = sorted(m["role"] for m in status["members"])
    assert roles == ["Follower", "Follower", "Leader"]
    assert _condition(ready, "SecretsReady")["status"] == "True"
    assert _condition(ready, "CertificatesReady")["status"] == "True"
    assert "hive.dev/operator" in ready["metadata"]["finalizers"]
    hashes = {json.dumps(m["secretHashes"], sort_keys=True) for m in status["members"]}
    assert len(hashes) == 1 and "fix-credentials/fix/password" in json.loads(hashes.pop())
    # spec.risk reached the runtime: every member reports the hash of exactly those limits.
    wanted = expected_hash(risk_defaults(RiskLimits.model_validate(RISK_LIMITS)))

    def risk_landed() -> bool:
        members = _hive(kubectl, ns)["status"]["members"]
        return len(members) == 3 and all(m.get("riskDefaultsHash") == wanted for m in members)

    wait_for(risk_landed, seconds=60, what="spec.risk's defaults reported by every member")
    assert any(e["reason"] == "RiskDefaultsSent" for e in kubectl.events(ns))

    owned = {"uid": ready["metadata"]["uid"], "controller": True}
    for kind, name in [
        ("serviceaccount", f"{CLUSTER}-runtime"),
        ("service", f"{CLUSTER}-peers"),
        ("service", CLUSTER),
        ("configmap", f"{CLUSTER}-config"),
        ("secret", f"{CLUSTER}-ca"),
        ("secret", f"{CLUSTER}-operator-tls"),
        ("poddisruptionbudget", CLUSTER),
        ("networkpolicy", CLUSTER),
        *[(kind, f"{CLUSTER}-{k}") for k in range(3) for kind in ("pod",)],
        *[("secret", f"{CLUSTER}-{k}-{part}") for k in range(3) for part in ("tls", "audit")],
    ]:
        obj = kubectl.json("get", kind, name, "-n", ns, "--show-managed-fields")
        refs = obj["metadata"]["ownerReferences"]
        assert any(owned.items() <= ref.items() for ref in refs), f"{kind}/{name} is owned by the HiveCluster"
        assert obj["metadata"]["labels"]["hive.dev/cluster"] == CLUSTER
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "hive-operator"
        managers = {entry["manager"] for entry in obj["metadata"]["managedFields"]}
        assert "hive-operator" in managers, f"{kind}/{name} applied by the hive-operator field manager"
    assert kubectl.json("get", "service", f"{CLUSTER}-peers", "-n", ns)["spec"]["publishNotReadyAddresses"]
    assert kubectl.json("get", "pdb", CLUSTER, "-n", ns)["spec"]["maxUnavailable"] == 1
    # The disruption controller finds the pods' controller (the HiveCluster) and its scale.
    wait_for(
        lambda: (
            kubectl.json("get", "pdb", CLUSTER, "-n", ns).get("status", {}).get("expectedPods") == 3
            and kubectl.json("get", "pdb", CLUSTER, "-n", ns)["status"].get("disruptionsAllowed") == 1
        ),
        seconds=60,
        what="the PodDisruptionBudget counting 3 pods and allowing 1 disruption",
    )
    # Retained data claims have no owner (garbage collection cannot take them) and name their
    # cluster by uid.
    for k in range(3):
        claim = kubectl.json("get", "pvc", f"data-{CLUSTER}-{k}", "-n", ns)
        assert "ownerReferences" not in claim["metadata"]
        assert claim["metadata"]["annotations"]["hive.dev/claim-of"] == ready["metadata"]["uid"]
        assert claim["status"]["phase"] == "Bound"

    pods = _pods(kubectl, ns)
    assert len({p["spec"]["nodeName"] for p in pods.values()}) == 3
    for name, pod in pods.items():
        # Each pod mounts its own certificate key and audit key, and nobody else's.
        secrets = {v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
        assert secrets == {f"{name}-tls", f"{name}-audit", "fix-credentials"}, secrets
        spec = pod["spec"]
        assert pod["status"]["qosClass"] == "Guaranteed"
        assert spec["automountServiceAccountToken"] is False
        anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["topologyKey"] == "kubernetes.io/hostname"
        assert spec["securityContext"]["runAsNonRoot"] is True
        (container,) = spec["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"]
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= container.keys()
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/var/run/hive/tls", "/var/lib/hive", "/var/run/hive/secrets/fix-credentials"} <= mounts
        assert all("valueFrom" not in e or "fieldRef" in e["valueFrom"] for e in container["env"])
        assert all("secretKeyRef" not in json.dumps(e) for e in container["env"]), "no secret in env"
        assert "envFrom" not in container

    events = [
        e
        for e in kubectl.events(ns)
        if e.get("involvedObject", e.get("regarding", {})).get("kind") == "HiveCluster"
    ]
    assert any(e["reason"] == "Created" for e in events), "an event for every object created"
    value_b64 = base64.b64encode(SECRET_VALUE.encode()).decode()
    for where, text in [
        ("status", json.dumps(status)),
        ("annotations", json.dumps(ready["metadata"].get("annotations", {}))),
        ("events", json.dumps(events)),
        ("pods", json.dumps(pods)),
        ("operator log", operator.log.read_text()),
    ]:
        assert SECRET_VALUE not in text and value_b64 not in text, f"the secret value leaked into {where}"


def test_a_quiet_reconcile_writes_nothing(ready: dict[str, Any], operator: Operator, ns: str) -> None:
    def settled() -> bool:
        before = len(operator.writes())
        time.sleep(2 * INTERVAL + 1)
        return len(operator.writes()) == before

    wait_for(settled, seconds=90, what="no operator writes for two timer periods")
    writes_before = operator.writes()
    applied = {
        (w["verb"], w["objectRef"]["resource"])
        for w in writes_before
        if w["objectRef"].get("namespace") == ns
    }
    assert ("patch", "pods") in applied, "the audit log sees the operator's writes (server-side apply)"
    ticks_before = operator.metric("hive_operator_reconciles_total", trigger="timer")
    time.sleep(4 * INTERVAL)
    ticks = operator.metric("hive_operator_reconciles_total", trigger="timer") - ticks_before
    assert ticks >= 3, f"the timer reconciled {ticks} times"
    new = operator.writes()[len(writes_before) :]
    assert new == [], (
        f"writes during {ticks:.0f} quiet reconciles: {[(w['verb'], w['objectRef']) for w in new]}"
    )
    assert operator.metric("hive_operator_cluster_ready", namespace=ns, cluster=CLUSTER) == 1
    assert RBAC_REFUSAL not in operator.log.read_text(), "the ClusterRole grants everything the operator does"
    assert (
        operator.metric("hive_operator_certificate_expiry_timestamp_seconds", cluster=CLUSTER) > time.time()
    )
    assert operator.metric("hive_operator_reconcile_duration_seconds_count") >= ticks


def _restore_delay(api: RawClient, path: str, change: Any, changed: Any, *, limit: float) -> float:
    """Seconds from ``change()`` (a raw API call) until ``changed(reply)`` is False (polled every 50 ms)."""
    started = time.monotonic()
    change()
    while time.monotonic() - started < limit:
        if not changed(api.get(path)):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{path} not restored within {limit} s")


def test_a_deleted_child_is_restored_by_its_watch_well_before_a_tick(
    ready: dict[str, Any], operator: Operator, api: RawClient, ns: str
) -> None:
    """The operator watches its children: a deleted Service or an edited label is put back in a
    fraction of the timer period, by a reconcile the child's event triggered. A timer alone would
    restore at a uniformly random moment within a period (about half of them later than INTERVAL/2),
    so five restores all under INTERVAL/2 is out of a timer's reach (1 in 32)."""
    service = f"/api/v1/namespaces/{ns}/services/{CLUSTER}"
    config_map = f"/api/v1/namespaces/{ns}/configmaps/{CLUSTER}-config"
    poked_before = operator.metric("hive_operator_reconciles_total", trigger="child")
    delays = []
    for _ in range(5):
        old = api.get(service).body["metadata"]["uid"]
        delays.append(
            _restore_delay(
                api,
                service,
                lambda: api.delete(service),
                lambda reply, old=old: reply.status != 200 or reply.body["metadata"]["uid"] == old,
                limit=8 * INTERVAL,
            )
        )
    for attempt in range(5):
        tamper = {"metadata": {"labels": {"app.kubernetes.io/version": f"tampered-{attempt}"}}}
        delays.append(
            _restore_delay(
                api,
                config_map,
                lambda tamper=tamper: api.patch(config_map, tamper),
                lambda reply: reply.body["metadata"]["labels"]["app.kubernetes.io/version"] != "0.1.0",
                limit=8 * INTERVAL,
            )
        )
    print(f"restore delays (s), timer period {INTERVAL} s: {[round(d, 2) for d in delays]}")
    assert operator.metric("hive_operator_reconciles_total", trigger="child") > poked_before
    services, labels = sorted(delays[:5]), sorted(delays[5:])
    assert services[-1] < INTERVAL / 2 and labels[-1] < INTERVAL / 2, (
        f"restores took {delays} s; the timer period is {INTERVAL} s"
    )


def test_status_follows_a_killed_leader(ready: dict[str, Any], module_kubectl: Kubectl, ns: str) -> None:
    kubectl = module_kubectl
    leader = _hive(kubectl, ns)["status"]["leader"]
    kubectl("delete", "pod", leader, "-n", ns, "--wait=false")

    def new_leader() -> str | None:
        status = _hive(kubectl, ns).get("status", {})
        return status["leader"] if status.get("leader") not in (None, leader) else None

    elected = wait_for(new_leader, seconds=90, what="status.leader moved off the killed pod")
    assert elected != leader
    kubectl(
        "wait", "--for=condition=Ready", f"hivecluster/{CLUSTER}", "-n", ns, "--timeout=120s", timeout=130
    )
    members = {m["pod"]: m for m in _hive(kubectl, ns)["status"]["members"]}
    assert members[leader]["role"] == "Follower" and members[elected]["role"] == "Leader"


def test_a_broken_secret_is_named_and_changes_nothing(
    ready: dict[str, Any], module_kubectl: Kubectl, ns: str
) -> None:
    kubectl = module_kubectl
    pods_before = {name: p["metadata"]["uid"] for name, p in _pods(kubectl, ns).items()}
    kubectl(
        "patch",
        "secret",
        "fix-credentials",
        "-n",
        ns,
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/data/password"}]',
    )

    def named() -> dict[str, Any] | None:
        condition = _condition(_hive(kubectl, ns), "SecretsReady")
        return condition if condition["status"] == "False" else None

    condition = wait_for(named, seconds=8 * INTERVAL, what="SecretsReady False")
    assert "fix-credentials" in condition["message"] and "password" in condition["message"]
    assert condition["reason"] == "SecretMissing"
    assert {name: p["metadata"]["uid"] for name, p in _pods(kubectl, ns).items()} == pods_before
    value = base64.b64encode(SECRET_VALUE.encode()).decode()
    kubectl("patch", "secret", "fix-credentials", "-n", ns, "-p", json.dumps({"data": {"password": value}}))
    wait_for(
        lambda: _condition(_hive(kubectl, ns), "SecretsReady")["status"] == "True",
        seconds=8 * INTERVAL,
        what="SecretsReady True again",
    )
    warnings = [e for e in kubectl.events(ns) if e["reason"] == "SecretMissing"]
    assert warnings and warnings[0]["type"] == "Warning"


def test_pause_stops_changes_and_resume_restores(
    ready: dict[str, Any], module_kubectl: Kubectl, ns: str
) -> None:
    kubectl = module_kubectl
    kubectl("patch", "hivecluster", CLUSTER, "-n", ns, "--type=merge", "-p", '{"spec":{"paused":true}}')
    wait_for(
        lambda: _condition(_hive(kubectl, ns), "Paused")["status"] == "True",
        seconds=8 * INTERVAL,
        what="Paused True",
    )
    assert _hive(kubectl, ns)["status"]["phase"] == "Paused"
    kubectl("delete", "service", CLUSTER, "-n", ns)
    time.sleep(3 * INTERVAL)
    assert kubectl("get", "service", CLUSTER, "-n", ns, check=False).returncode != 0, (
        "paused: nothing restored"
    )
    kubectl("patch", "hivecluster", CLUSTER, "-n", ns, "--type=merge", "-p", '{"spec":{"paused":false}}')
    wait_for(
        lambda: kubectl("get", "service", CLUSTER, "-n", ns, check=False).returncode == 0,
        seconds=8 * INTERVAL,
        what="the Service restored after resume",
    )
    wait_for(
        lambda: _condition(_hive(kubectl, ns), "Paused")["status"] == "False",
        seconds=8 * INTERVAL,
        what="Paused False",
    )
    assert any(e["reason"] == "Resumed" for e in kubectl.events(ns))


def test_a_reissued_leaf_lands_without_restarting_any_pod(
    ready: dict[str, Any], module_kubectl: Kubectl, ns: str
) -> None:
    kubectl = module_kubectl
    kubectl(
        "wait", "--for=condition=Ready", f"hivecluster/{CLUSTER}", "-n", ns, "--timeout=120s", timeout=130
    )
    target = f"{CLUSTER}-1"
    before = {
        name: (p["metadata"]["uid"], p["status"]["containerStatuses"][0]["restartCount"])
        for name, p in _pods(kubectl, ns).items()
    }
    serial = {m["pod"]: m["certificateSerial"] for m in _hive(kubectl, ns)["status"]["members"]}[target]
    killed_before = {e["metadata"]["uid"] for e in kubectl.events(ns) if e["reason"] == "Killing"}
    patch = [{"op": "remove", "path": "/data/tls.crt"}, {"op": "remove", "path": "/data/tls.key"}]
    kubectl("patch", "secret", f"{target}-tls", "-n", ns, "--type=json", "-p", json.dumps(patch))

    def reissued() -> str | None:
        body = _hive(kubectl, ns)
        members = {m["pod"]: m for m in body["status"]["members"]}
        now = members[target].get("certificateSerial")
        ok = _condition(body, "CertificatesReady")["status"] == "True"
        return now if now and now != serial and ok else None

    new = wait_for(reissued, seconds=20 * INTERVAL, what=f"{target} serving a reissued certificate")
    assert new != serial
    time.sleep(2 * INTERVAL)  # a restart would show by now: the kubelet kills at once, then replaces
    pods = _pods(kubectl, ns)
    after = {
        name: (p["metadata"]["uid"], p["status"]["containerStatuses"][0]["restartCount"])
        for name, p in pods.items()
    }
    assert after == before, "no pod was restarted or replaced by the rotation"
    assert not [n for n, p in pods.items() if p["metadata"].get("deletionTimestamp")], "no pod is terminating"
    killed = [
        e
        for e in kubectl.events(ns)
        if e["reason"] == "Killing" and e["metadata"]["uid"] not in killed_before
    ]
    assert killed == [], f"containers killed during the rotation: {killed}"
    assert any(e["reason"] == "CertificateIssued" for e in kubectl.events(ns))


def test_a_version_change_rolls_the_pods_one_at_a_time_leader_last(
    ready: dict[str, Any], module_kubectl: Kubectl, ns: str
) -> None:
    """A new ``spec.version`` replaces every pod (the bed's image tag is the runtime's build
    version): followers first, one at a time, each only once every member is ready again, the
    leader last (it hands over on SIGTERM); claims keep the data, the cluster ends Ready on the new
    version with the same claims."""
    kubectl = module_kubectl
    kubectl(
        "wait", "--for=condition=Ready", f"hivecluster/{CLUSTER}", "-n", ns, "--timeout=120s", timeout=130
    )
    before = {name: p["metadata"]["uid"] for name, p in _pods(kubectl, ns).items()}
    claims = {c["metadata"]["uid"] for c in kubectl.json("get", "pvc", "-n", ns)["items"]}
    seen_before = {e["metadata"]["uid"] for e in kubectl.events(ns)}
    kubectl("patch", "hivecluster", CLUSTER, "-n", ns, "--type=merge", "-p", '{"spec":{"version":"0.1.1"}}')

    def upgraded() -> dict[str, Any] | None:
        body = _hive(kubectl, ns)
        status = body.get("status", {})
        members = status.get("members", [])
        done = (
            len(members) == 3
            and all(m.get("version") == "0.1.1" and m.get("ready") for m in members)
            and _condition(body, "Ready")["status"] == "True"
            and _condition(body, "Progressing")["status"] == "False"
        )
        return body if done else None

    body = wait_for(upgraded, seconds=240, what="every member on 0.1.1 and Ready")
    assert body["status"]["currentVersion"] == "0.1.1"
    after = {name: p["metadata"]["uid"] for name, p in _pods(kubectl, ns).items()}
    assert set(after) == set(before) and not set(after.values()) & set(before.values()), "every pod replaced"
    assert {c["metadata"]["uid"] for c in kubectl.json("get", "pvc", "-n", ns)["items"]} == claims
    steps = sorted(
        (
            e
            for e in kubectl.events(ns)
            if e["reason"] == "RollingUpdate" and e["metadata"]["uid"] not in seen_before
        ),
        key=lambda e: e.get("eventTime") or e["metadata"]["creationTimestamp"],
    )
    notes = [e.get("note") or e.get("message") for e in steps]
    assert len(notes) == 3, notes
    assert "(follower)" in notes[0] and "(follower)" in notes[1] and "(leader;" in notes[2], notes


def test_deletion_keeps_claims_and_backups(ready: dict[str, Any], module_kubectl: Kubectl, ns: str) -> None:
    kubectl = module_kubectl
    backup = yaml.safe_load((REPO / "manifests/samples/hivebackup.yaml").read_text())
    backup["metadata"] = {"name": "keep-me", "namespace": ns}
    backup["spec"]["cluster"] = CLUSTER
    kubectl("apply", "-f", "-", stdin=json.dumps(backup))
    claims = kubectl.json("get", "pvc", "-n", ns)["items"]
    assert len(claims) == 3
    kubectl("delete", "hivecluster", CLUSTER, "-n", ns, "--timeout=60s", timeout=70)
    assert kubectl("get", "hivecluster", CLUSTER, "-n", ns, check=False).returncode != 0
    assert kubectl.json("get", "hivebackup", "keep-me", "-n", ns)["metadata"]["name"] == "keep-me"
    assert {c["metadata"]["name"] for c in kubectl.json("get", "pvc", "-n", ns)["items"]} == {
        c["metadata"]["name"] for c in claims
    }, "retentionPolicy Retain (the default): the claims stay"
    assert any(e["reason"] == "Deleting" for e in kubectl.events(ns))
    # A new cluster of the same name does not take the old one's data over: its claims are named
    # in Degraded and no pod starts on them.
    kubectl("apply", "-f", "-", stdin=json.dumps(_manifest(ns)))

    def refused() -> dict[str, Any] | None:
        body = _hive(kubectl, ns)
        conditions = {c["type"]: c for c in body.get("status", {}).get("conditions", [])}
        degraded = conditions.get("Degraded", {})
        return degraded if "holds the data of an earlier HiveCluster" in degraded.get("message", "") else None

    degraded = wait_for(refused, seconds=8 * INTERVAL, what="the earlier cluster's claims named in Degraded")
    assert all(f"data-{CLUSTER}-{k}" in degraded["message"] for k in range(3)), degraded
    wait_for(
        lambda: not kubectl.pods(ns, f"hive.dev/cluster={CLUSTER}"),
        seconds=60,
        what="the earlier cluster's pods gone",
    )
    time.sleep(INTERVAL)
    assert not kubectl.pods(ns, f"hive.dev/cluster={CLUSTER}"), "no pod on an earlier cluster's data"
    kubectl("delete", "hivecluster", CLUSTER, "-n", ns, "--timeout=60s", timeout=70)


def _delete_and_wait_for_pods_gone(kubectl: Kubectl, namespace: str, name: str) -> None:
    """Delete a HiveCluster and wait until its pods are gone, so their cores are free for the
    next test."""
    kubectl("delete", "hivecluster", name, "-n", namespace, "--timeout=60s", timeout=70)
    wait_for(
        lambda: not kubectl.pods(namespace, f"hive.dev/cluster={name}"),
        seconds=60,
        what=f"the {name} cluster's pods gone (their cores free for the next test)",
    )


def _bundle_certificates(pem: bytes) -> int:
    return pem.count(b"-----BEGIN CERTIFICATE-----")


def test_a_ca_rotation_lands_with_an_overlapping_bundle_and_no_pod_restart(
    operator: Operator, module_kubectl: Kubectl, api: RawClient, ns: str
) -> None:
    """A cluster whose CA lives 150 s (plus the minute its start is backdated) starts rotating it
    two thirds in, about 80 s after creation: the trust bundle becomes new + old, every pod reports
    that bundle's fingerprint, every leaf is reissued by the new CA and reported in use, the old CA
    leaves the bundle and every pod reports the new CA alone; no pod is restarted or replaced and
    Ready stays True at every look. Runs after the module's cluster is deleted (its cores are
    free again); the operator is the module's cluster-wide one."""
    kubectl = module_kubectl
    name = "rotor"
    wait_for(
        lambda: not kubectl.pods(ns, f"hive.dev/cluster={CLUSTER}"),
        seconds=90,
        what=f"the deleted {CLUSTER} cluster's pods gone",
    )
    home = _new_namespace(api, kubectl)
    manifest = _manifest(
        home, secrets=[], tls={"duration": "140s", "renewBefore": "10s", "caDuration": "150s"}
    )
    manifest["metadata"]["name"] = name
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    kubectl("wait", "--for=condition=Ready", f"hivecluster/{name}", "-n", home, "--timeout=150s", timeout=160)
    hive_path = f"/apis/hive.dev/v1alpha1/namespaces/{home}/hiveclusters/{name}"
    peer_tls = f"/api/v1/namespaces/{home}/secrets/{name}-0-tls"

    def look() -> tuple[dict[str, Any], bytes]:
        body = api.get(hive_path).body
        bundle = base64.b64decode(api.get(peer_tls).body["data"]["ca.crt"])
        return body, bundle

    def members(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {m["pod"]: m for m in body["status"]["members"]}

    def pod_identities() -> dict[str, tuple[str, int]]:
        return {
            pod["metadata"]["name"]: (
                pod["metadata"]["uid"],
                pod["status"]["containerStatuses"][0]["restartCount"],
            )
            for pod in kubectl.pods(home, f"hive.dev/cluster={name}")
        }

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    body, first_bundle = look()
    assert _bundle_certificates(first_bundle) == 1
    first = members(body)
    assert len(first) == 3 and all(m["caBundleFingerprint"] == sha(first_bundle) for m in first.values())
    before = pod_identities()
    assert len(before) == 3
    overlap_reported = False
    not_ready: list[dict[str, Any]] = []
    phases: set[str] = set()
    deadline = time.monotonic() + 170
    while True:
        assert time.monotonic() < deadline, (
            f"no completed CA rotation; phases seen {phases}; status "
            f"{json.dumps(body.get('status'), indent=1)}\noperator log:\n{operator.log.read_text()[-3000:]}"
        )
        body, bundle = look()
        ready_condition = next(c for c in body["status"]["conditions"] if c["type"] == "Ready")
        if ready_condition["status"] != "True":
            not_ready.append(ready_condition)
        phases.add(
            next(c for c in body["status"]["conditions"] if c["type"] == "CertificatesReady")["reason"]
        )
        now = members(body)
        reported = {m.get("caBundleFingerprint") for m in now.values()}
        if _bundle_certificates(bundle) == 2 and reported == {sha(bundle)}:
            overlap_reported = True  # every pod trusts old and new at once
        if (
            overlap_reported
            and _bundle_certificates(bundle) == 1
            and bundle != first_bundle
            and reported == {sha(bundle)}
            and all(
                m.get("certificateSerial") != first[p]["certificateSerial"] for p, m in members(body).items()
            )
        ):
            break
        time.sleep(0.5)
    assert not_ready == [], f"Ready went False during the rotation: {not_ready}"
    assert {"DistributingTrust"} <= phases, phases
    ca = base64.b64decode(api.get(f"/api/v1/namespaces/{home}/secrets/{name}-ca").body["data"]["ca.crt"])
    assert ca == bundle, "the signing CA is the new one and the bundle holds it alone"
    new_ca = x509.load_pem_x509_certificate(ca)
    for pod in before:
        leaves = api.get(f"/api/v1/namespaces/{home}/secrets/{pod}-tls").body["data"]
        assert base64.b64decode(leaves["ca.crt"]) == bundle
        leaf = x509.load_pem_x509_certificate(base64.b64decode(leaves["tls.crt"]))
        leaf.verify_directly_issued_by(new_ca)
        assert format(leaf.serial_number, "x") == members(body)[pod]["certificateSerial"]
    time.sleep(2 * INTERVAL)  # a restart would show by now
    assert pod_identities() == before, "no pod was restarted or replaced by the CA rotation"
    reasons = [e["reason"] for e in kubectl.events(home)]
    assert "CARotationStarted" in reasons and "CARotationCompleted" in reasons, reasons
    assert "Killing" not in reasons
    _delete_and_wait_for_pods_gone(kubectl, home, name)


def test_cert_manager_mode_runs_on_certificates_the_real_cert_manager_issued(
    operator: Operator, module_kubectl: Kubectl, api: RawClient, cert_manager: CertManager
) -> None:
    """``tls.mode: certManager``: the operator makes no CA; it asks cert-manager (the real
    controller) for one Certificate per pod and one for itself, creates each pod once its own
    Secret is usable, and reads the members' status with cert-manager's client certificate. The
    cluster becomes Ready, every member serves the serial cert-manager issued it, and each pod
    mounts only its own Secret. Runs after the module's other clusters are gone (cores free)."""
    kubectl = module_kubectl
    name = "issued"
    home = _new_namespace(api, kubectl)
    bootstrap_ca_issuer(kubectl, home, issuer="hive-ca", manager=cert_manager)
    manifest = _manifest(home, secrets=[], tls={"mode": "certManager", "issuerRef": {"name": "hive-ca"}})
    manifest["metadata"]["name"] = name
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    waited = kubectl(
        "wait",
        "--for=condition=Ready",
        f"hivecluster/{name}",
        "-n",
        home,
        "--timeout=150s",
        timeout=160,
        check=False,
    )
    body = kubectl.json("get", "hivecluster", name, "-n", home)
    assert waited.returncode == 0, (
        f"not Ready: {json.dumps(body.get('status'), indent=1)}\n"
        f"operator log:\n{operator.log.read_text()[-3000:]}\ncert-manager log:\n{cert_manager.log_tail()}"
    )
    certificates = {
        c["metadata"]["name"]: c for c in kubectl.json("get", "certificates", "-n", home)["items"]
    }
    ours = {n for n, c in certificates.items() if c["metadata"].get("ownerReferences")}
    assert ours == {f"{name}-{k}-tls" for k in range(3)} | {f"{name}-operator-tls"}
    for certificate in ours:
        owner = certificates[certificate]["metadata"]["ownerReferences"][0]
        assert owner["uid"] == body["metadata"]["uid"] and owner["controller"]
    condition = _condition(body, "CertificatesReady")
    assert condition["status"] == "True" and condition["reason"] == "CertificatesIssued", condition
    secrets = {s["metadata"]["name"] for s in kubectl.json("get", "secrets", "-n", home)["items"]}
    assert f"{name}-ca" not in secrets, "no CA of the operator's own in certManager mode"
    members = {m["pod"]: m for m in body["status"]["members"]}
    for k in range(3):
        pod = f"{name}-{k}"
        data = kubectl.json("get", "secret", f"{pod}-tls", "-n", home)["data"]
        leaf = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
        root = x509.load_pem_x509_certificate(base64.b64decode(data["ca.crt"]))
        leaf.verify_directly_issued_by(root)
        assert (
            root.subject.rfc4514_string().endswith("CN=hive-ca root")
            or "hive-ca root" in root.subject.rfc4514_string()
        )
        assert members[pod]["certificateSerial"] == format(leaf.serial_number, "x")
        assert (
            members[pod]["caBundleFingerprint"]
            == hashlib.sha256(base64.b64decode(data["ca.crt"])).hexdigest()
        )
        spec = kubectl.json("get", "pod", pod, "-n", home)["spec"]
        mounted = {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        assert mounted == {f"{pod}-tls", f"{pod}-audit"}
    _delete_and_wait_for_pods_gone(kubectl, home, name)


def test_scaling_adds_and_removes_raft_members_through_the_admin_api(
    operator: Operator, module_kubectl: Kubectl, api: RawClient
) -> None:
    """spec.replicas 1 -> 3: the new pods start as joiners, are added as learners and promoted once
    they hold the log, and the cluster is Ready with three voters. 3 -> 1: the extra members leave
    the Raft configuration (highest ordinal first), then their pods and claims go; the one left is
    Ready alone. Runs after the module's other clusters are gone (cores free)."""
    kubectl = module_kubectl
    name = "elastic"
    home = _new_namespace(api, kubectl)
    manifest = _manifest(home, secrets=[], replicas=1)
    manifest["metadata"]["name"] = name

    def hive() -> dict[str, Any]:
        return dict(kubectl.json("get", "hivecluster", name, "-n", home))

    def voters_ready(count: int) -> dict[str, Any] | None:
        body = hive()
        status = body.get("status", {})
        members = status.get("members", [])
        done = (
            len(members) == count
            and all(m.get("voter") and m.get("ready") for m in members)
            and _condition(body, "Ready")["status"] == "True"
        )
        return body if done else None

    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
    wait_for(lambda: voters_ready(1), seconds=150, what="one voter Ready")
    kubectl("patch", "hivecluster", name, "-n", home, "--type=merge", "-p", '{"spec":{"replicas":3}}')
    body = wait_for(lambda: voters_ready(3), seconds=180, what="three voters Ready after scaling up")
    assert {m["pod"] for m in body["status"]["members"]} == {f"{name}-{k}" for k in range(3)}
    reasons = [e["reason"] for e in kubectl.events(home)]
    assert reasons.count("MemberAdded") >= 2 and reasons.count("MemberPromoted") >= 2, reasons

    kubectl("patch", "hivecluster", name, "-n", home, "--type=merge", "-p", '{"spec":{"replicas":1}}')

    def shrunk() -> bool:
        pods = kubectl.pods(home, f"hive.dev/cluster={name}")
        claims = kubectl.json("get", "pvc", "-n", home)["items"]
        return (
            voters_ready(1) is not None
            and [p["metadata"]["name"] for p in pods] == [f"{name}-0"]
            and [c["metadata"]["name"] for c in claims] == [f"data-{name}-0"]
        )

    wait_for(shrunk, seconds=180, what="one voter, one pod, one claim after scaling down")
    removed = [
        e.get("note") or e.get("message") for e in kubectl.events(home) if e["reason"] == "MemberRemoved"
    ]
    assert len(removed) >= 2, removed
    _delete_and_wait_for_pods_gone(kubectl, home, name)


def test_single_namespace_mode_needs_only_a_role(
    cluster: Any, operator: Operator, module_kubectl: Kubectl, api: RawClient, tmp_path: Path
) -> None:
    """Last in this module: the cluster-wide operator is stopped first, so one operator, watching
    one namespace with the chart's Role there (and list/watch of CRDs), runs a cluster alone."""
    kubectl = module_kubectl
    stop_operator(operator.process)
    watched = f"t-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", watched)
    wait_for(
        lambda: api.get(f"/api/v1/namespaces/{watched}/serviceaccounts/default").status == 200,
        seconds=30,
        what="the default service account",
    )
    scoped = start_operator(
        cluster,
        kubectl,
        tmp_path,
        scope=[f"--namespace={watched}"],
        values=["operator.watch.allNamespaces=false", f"operator.watch.namespaces={{{watched}}}"],
    )
    try:
        roles = kubectl.json("get", "rolebindings", "-n", watched)["items"]
        assert [r["roleRef"]["kind"] for r in roles if r["metadata"]["name"] == "hive-operator"] == ["Role"]
        manifest = _manifest(watched, replicas=1, secrets=[])
        kubectl("apply", "-f", "-", stdin=json.dumps(manifest))
        waited = kubectl(
            "wait",
            "--for=condition=Ready",
            f"hivecluster/{CLUSTER}",
            "-n",
            watched,
            "--timeout=120s",
            timeout=130,
            check=False,
        )
        assert waited.returncode == 0, f"not Ready; operator log:\n{scoped.log.read_text()[-4000:]}"
        assert RBAC_REFUSAL not in scoped.log.read_text(), "the Role grants everything the operator does"
        kubectl("delete", "hivecluster", CLUSTER, "-n", watched, "--timeout=60s", timeout=70)
    finally:
        stop_operator(scoped.process)


def test_a_standby_operator_takes_over_when_the_active_one_dies(
    cluster: Any, module_kubectl: Kubectl, api: RawClient, tmp_path: Path
) -> None:
    """Two operators in one kopf peering at distinct priorities, under the chart's RBAC with
    ``operator.peering.enabled``: the higher one reconciles, the other does nothing; the active one
    is killed with SIGKILL (no goodbye in the peering object) and the standby takes over once the
    dead peer's entry expires: it restores a deleted child of a cluster it never reconciled."""
    kubectl = module_kubectl
    peering = f"hive-{uuid.uuid4().hex[:6]}"
    values = ["operator.peering.enabled=true"]  # replicas stay 0: the two run as processes here
    flags = (f"--peering={peering}", "--peering-lifetime=10")
    (tmp_path / "active").mkdir()
    (tmp_path / "standby").mkdir()
    active = start_operator(
        cluster, kubectl, tmp_path / "active", scope=["--all-namespaces"], values=values,
        extra=(*flags, "--priority=200"),
    )  # fmt: skip
    standby = None
    try:
        standby = start_operator(
            cluster, kubectl, tmp_path / "standby", scope=["--all-namespaces"], values=values,
            extra=(*flags, "--priority=100"), home=active.namespace,
        )  # fmt: skip
        peers = kubectl.json("get", "clusterkopfpeering", peering)
        wait_for(
            lambda: len(kubectl.json("get", "clusterkopfpeering", peering).get("status") or {}) == 2,
            seconds=60,
            what="both operators in the peering object",
        )
        home = f"t-{uuid.uuid4().hex[:10]}"
        kubectl("create", "namespace", home)
        wait_for(
            lambda: api.get(f"/api/v1/namespaces/{home}/serviceaccounts/default").status == 200,
            seconds=30,
            what="the default service account",
        )
        kubectl("apply", "-f", "-", stdin=json.dumps(_manifest(home, replicas=1, secrets=[])))
        kubectl(
            "wait", "--for=condition=Ready", f"hivecluster/{CLUSTER}", "-n", home, "--timeout=150s",
            timeout=160,
        )  # fmt: skip
        assert active.metric("hive_operator_reconciles_total") > 0
        assert standby.metric("hive_operator_reconciles_total") == 0, "the standby reconciled"
        active.process.kill()  # SIGKILL: the peering entry stays until its lifetime ends
        active.process.wait(10)
        killed = time.monotonic()
        service = f"/api/v1/namespaces/{home}/services/{CLUSTER}"
        old = api.get(service).body["metadata"]["uid"]
        assert api.delete(service).status == 200

        def restored() -> bool:
            reply = api.get(service)
            return reply.status == 200 and reply.body["metadata"]["uid"] != old

        wait_for(restored, seconds=90, what="the client Service restored by the standby")
        took = time.monotonic() - killed
        print(f"standby took over and restored a child {took:.1f} s after the active one was killed")
        assert standby.metric("hive_operator_reconciles_total") > 0
        assert RBAC_REFUSAL not in standby.log.read_text(), "the chart's peering RBAC grants what kopf does"
        kubectl("delete", "hivecluster", CLUSTER, "-n", home, "--timeout=60s", timeout=70)
        assert peers["metadata"]["name"] == peering
    finally:
        stop_operator(active.process)
        if standby is not None:
            stop_operator(standby.process)
