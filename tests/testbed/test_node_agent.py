"""Conformance of the node agent: what a kubelet does, checked only through kubectl and the API.

Each test would pass unchanged against a real cluster with a real kubelet (pods print what they
see, and ``kubectl logs`` reads it back through the API server's proxy to the node): environment
sources and ``$(VAR)`` expansion, volumes (Secret, ConfigMap, projected with a service-account
token, downward API, emptyDir) and their live update, probes and restarts, graceful termination
(preStop, SIGTERM, the grace period, SIGKILL), cluster DNS names and ClusterIP Services, and
exclusive cores for Guaranteed pods.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from typing import Any

from hive_testbed.kubectl import Kubectl, is_ready, wait_for

PYTHON = "python:3.12"


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": containers, **spec},
    }


def python(name: str, script: str, **container: Any) -> dict[str, Any]:
    return {"name": name, "image": PYTHON, "command": ["python3", "-c", script], **container}


def logs(kubectl: Kubectl, namespace: str, name: str, container: str = "") -> str:
    args = ["logs", name, "-n", namespace] + (["-c", container] if container else [])
    return kubectl(*args, check=False).stdout


def phase(kubectl: Kubectl, namespace: str, name: str) -> str:
    return str(kubectl.json("get", "pod", name, "-n", namespace)["status"].get("phase"))


def secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


DUMP = "import json, os, sys; print(json.dumps({'env': dict(os.environ), 'argv': sys.argv[1:]}))"


def test_env_sources_and_variable_expansion(kubectl: Kubectl, namespace: str) -> None:
    container = python(
        "main",
        DUMP,
        args=["$(GREETING)-$(POD_NAME)", "$$(GREETING)", "$(UNDEFINED)"],
        env=[
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['team']"}}},
            {
                "name": "CPU_MILLIS",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
            },
            {
                "name": "MEMORY_MI",
                "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}},
            },
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}},
            {"name": "FROM_MAP", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "GREETING", "value": "hello"},
            {"name": "COMPOSED", "value": "$(GREETING) from $(NODE)"},
        ],
        envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        resources={
            "limits": {"cpu": "500m", "memory": "64Mi"},
            "requests": {"cpu": "250m", "memory": "32Mi"},
        },
    )
    manifest = pod("env", [container], restartPolicy="Never")
    manifest["metadata"]["labels"]["team"] = "risk"
    kubectl.apply(
        namespace,
        [secret("creds", {"user": "alice"}), configmap("settings", {"mode": "live", "depth": "5"}), manifest],
    )
    wait_for(lambda: phase(kubectl, namespace, "env") == "Succeeded", seconds=60, what="pod env Succeeded")
    seen = json.loads(logs(kubectl, namespace, "env"))
    status = kubectl.json("get", "pod", "env", "-n", namespace)
    env = seen["env"]
    assert env["POD_NAME"] == "env"
    assert env["POD_IP"] == status["status"]["podIP"]
    assert env["NODE"] == status["spec"]["nodeName"]
    assert env["TEAM"] == "risk"
    assert env["CPU_MILLIS"] == "500"
    assert env["MEMORY_MI"] == "32"
    assert env["FROM_SECRET"] == "alice"
    assert env["FROM_MAP"] == "live"
    assert env["CFG_mode"] == "live" and env["CFG_depth"] == "5"
    assert env["COMPOSED"] == f"hello from {status['spec']['nodeName']}"
    assert seen["argv"] == ["hello-env", "$(GREETING)", "$(UNDEFINED)"]
    service = kubectl.json("get", "service", "kubernetes", "-n", "default")["spec"]
    assert env["KUBERNETES_SERVICE_HOST"] == service["clusterIP"]
    assert env["KUBERNETES_SERVICE_PORT"] == str(service["ports"][0]["port"])
    terminated = status["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"


def test_missing_secret_keeps_the_pod_waiting_until_it_exists(kubectl: Kubectl, namespace: str) -> None:
    container = python(
        "main", DUMP, env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "later", "key": "x"}}}]
    )
    kubectl.apply(namespace, [pod("waiting", [container], restartPolicy="Never")])

    def waiting_reason() -> str:
        statuses = (
            kubectl.json("get", "pod", "waiting", "-n", namespace)["status"].get("containerStatuses") or []
        )
        return str(statuses[0]["state"].get("waiting", {}).get("reason", "")) if statuses else ""

    assert wait_for(
        lambda: waiting_reason() == "CreateContainerConfigError", what="CreateContainerConfigError"
    )
    kubectl.apply(namespace, [secret("later", {"x": "now"})])
    wait_for(lambda: phase(kubectl, namespace, "waiting") == "Succeeded", seconds=60, what="Succeeded")
    assert json.loads(logs(kubectl, namespace, "waiting"))["env"]["X"] == "now"


READ_VOLUMES = """
import json, os, pathlib, time
def files(root):
    found = {}
    for top, dirs, names in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith('..')]
        for name in names:
            path = os.path.join(top, name)
            found[os.path.relpath(path, root)] = open(path).read()
    return found
pathlib.Path('/scratch/note').write_text('shared')
mode = oct(os.stat('/secret/username').st_mode & 0o777)
print(json.dumps({'secret': files('/secret'), 'config': files('/config'), 'projected': files('/projected'),
                  'downward': files('/downward'), 'mode': mode}), flush=True)
last = None
for _ in range(600):
    value = pathlib.Path('/secret/username').read_text()
    if value != last:
        print('username=' + value, flush=True)
        last = value
    time.sleep(0.1)
"""


def test_volumes_are_laid_out_and_updated_in_place(kubectl: Kubectl, namespace: str) -> None:
    volumes = [
        {"name": "secret", "secret": {"secretName": "login", "defaultMode": 0o400}},
        {
            "name": "config",
            "configMap": {"name": "tuning", "items": [{"key": "depth", "path": "book/depth"}]},
        },
        {
            "name": "projected",
            "projected": {
                "sources": [
                    {"secret": {"name": "login", "items": [{"key": "username", "path": "user"}]}},
                    {"configMap": {"name": "tuning"}},
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600, "audience": "hive"}},
                    {
                        "downwardAPI": {
                            "items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]
                        }
                    },
                ]
            },
        },
        {
            "name": "downward",
            "downwardAPI": {
                "items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                    {"path": "cpu", "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu"}},
                ]
            },
        },
        {"name": "scratch", "emptyDir": {}},
    ]
    mounts = [{"name": v["name"], "mountPath": f"/{v['name']}"} for v in volumes]
    container = python(
        "main", READ_VOLUMES, volumeMounts=mounts, resources={"limits": {"cpu": "1", "memory": "64Mi"}}
    )
    kubectl.apply(
        namespace,
        [
            secret("login", {"username": "alice"}),
            configmap("tuning", {"depth": "10"}),
            pod("volumes", [container], volumes=volumes, terminationGracePeriodSeconds=1),
        ],
    )
    first = wait_for(lambda: logs(kubectl, namespace, "volumes").splitlines(), seconds=60, what="volume dump")
    seen = json.loads(first[0])
    assert seen["secret"] == {"username": "alice"}
    assert seen["mode"] == "0o400"
    assert seen["config"] == {"book/depth": "10"}
    projected = seen["projected"]
    assert projected["user"] == "alice" and projected["depth"] == "10" and projected["name"] == "volumes"
    claims = json.loads(base64.urlsafe_b64decode(projected["token"].split(".")[1] + "=="))
    assert claims["sub"] == f"system:serviceaccount:{namespace}:default"
    assert claims["aud"] == ["hive"]
    assert claims["kubernetes.io"]["pod"]["name"] == "volumes"
    assert 'app="volumes"' in seen["downward"]["labels"]
    assert seen["downward"]["cpu"] == "1"

    # The kubelet republishes a changed Secret into the running pod (no restart).
    kubectl.apply(namespace, [secret("login", {"username": "bob"})])
    wait_for(lambda: "username=bob" in logs(kubectl, namespace, "volumes"), seconds=30, what="updated secret")
    assert (
        kubectl.json("get", "pod", "volumes", "-n", namespace)["status"]["containerStatuses"][0][
            "restartCount"
        ]
        == 0
    )


def _container_status(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    statuses = kubectl.json("get", "pod", name, "-n", namespace)["status"].get("containerStatuses") or [{}]
    return dict(statuses[0])


def test_probes_drive_readiness_and_restarts(kubectl: Kubectl, namespace: str) -> None:
    scratch = {"name": "scratch", "emptyDir": {}}
    mount = [{"name": "scratch", "mountPath": "/work"}]
    # Ready once a file exists (after a startup probe passed), unready when it goes away.
    flapping = python(
        "main",
        "import pathlib, time; time.sleep(2); p = pathlib.Path('/work/ready'); p.write_text('1');"
        " time.sleep(6); p.unlink(); time.sleep(600)",
        volumeMounts=mount,
        startupProbe={
            "exec": {"command": ["sh", "-c", "test -f /work/ready"]},
            "periodSeconds": 1,
            "failureThreshold": 30,
        },
        readinessProbe={
            "exec": {"command": ["sh", "-c", "test -f /work/ready"]},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    )
    # Liveness fails after a while: the container is restarted, with the last state recorded.
    dying = python(
        "main",
        "import pathlib, time; p = pathlib.Path('/work/alive'); p.write_text('1'); time.sleep(3); p.unlink();"
        " time.sleep(600)",
        volumeMounts=mount,
        livenessProbe={
            "exec": {"command": ["cat", "/work/alive"]},
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
    )
    crashing = {"name": "main", "image": PYTHON, "command": ["sh", "-c", "exit 3"]}
    kubectl.apply(
        namespace,
        [
            pod("flapping", [flapping], volumes=[scratch], terminationGracePeriodSeconds=1),
            pod("dying", [dying], volumes=[scratch], terminationGracePeriodSeconds=1),
            pod("crashing", [crashing], terminationGracePeriodSeconds=1),
        ],
    )
    get = lambda name: kubectl.json("get", "pod", name, "-n", namespace)  # noqa: E731
    wait_for(lambda: is_ready(get("flapping")), seconds=30, what="flapping Ready")
    assert _container_status(kubectl, namespace, "flapping")["started"] is True
    wait_for(lambda: not is_ready(get("flapping")), seconds=30, what="flapping unready again")

    wait_for(
        lambda: _container_status(kubectl, namespace, "dying").get("restartCount", 0) >= 1,
        seconds=40,
        what="a restart",
    )
    last = _container_status(kubectl, namespace, "dying")["lastState"]["terminated"]
    assert last["exitCode"] != 0
    reasons = [e["reason"] for e in kubectl.events(namespace) if e["involvedObject"]["name"] == "dying"]
    assert "Unhealthy" in reasons

    def crash_looping() -> bool:
        status = _container_status(kubectl, namespace, "crashing")
        return bool(status.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff")

    wait_for(crash_looping, seconds=30, what="CrashLoopBackOff")
    assert _container_status(kubectl, namespace, "crashing")["lastState"]["terminated"]["exitCode"] == 3


RECORDER = """
import http.server, os
class Recorder(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print('hit ' + self.path, flush=True)
        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ['POD_IP'], 8080), Recorder).serve_forever()
"""

GRACEFUL = """
import signal, sys, time, urllib.request
def call(path):
    urllib.request.urlopen('http://recorder:8080' + path, timeout=5).read()
def stop(*_):
    call('/sigterm')
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
call('/started')
while True:
    time.sleep(0.1)
"""


IN_CLUSTER = """
import json, os, ssl, urllib.request
base = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(base + '/token').read()
namespace = open(base + '/namespace').read()
context = ssl.create_default_context(cafile=base + '/ca.crt')
url = 'https://{}:{}/api/v1/namespaces/{}/pods'.format(
    os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'], namespace)
request = urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token})
try:
    urllib.request.urlopen(request, context=context, timeout=10)
    print('allowed', flush=True)
except urllib.error.HTTPError as error:
    print('status', error.code, json.loads(error.read())['reason'], flush=True)
"""


def test_an_in_cluster_client_reaches_the_api_as_its_service_account(
    kubectl: Kubectl, namespace: str
) -> None:
    """The service-account token, the cluster CA and KUBERNETES_SERVICE_* reach the API server
    through the kubernetes Service; RBAC answers for the account (403 until a Role grants it)."""
    kubectl.apply(namespace, [pod("denied", [python("main", IN_CLUSTER)], restartPolicy="Never")])
    wait_for(lambda: phase(kubectl, namespace, "denied") == "Succeeded", seconds=60, what="denied done")
    assert logs(kubectl, namespace, "denied").strip() == "status 403 Forbidden"
    kubectl("create", "role", "pod-reader", "-n", namespace, "--verb=list", "--resource=pods")
    kubectl(
        "create",
        "rolebinding",
        "pod-reader",
        "-n",
        namespace,
        "--role=pod-reader",
        f"--serviceaccount={namespace}:default",
    )
    kubectl.apply(namespace, [pod("allowed", [python("main", IN_CLUSTER)], restartPolicy="Never")])
    wait_for(lambda: phase(kubectl, namespace, "allowed") == "Succeeded", seconds=60, what="allowed done")
    assert logs(kubectl, namespace, "allowed").strip() == "allowed"


def test_cluster_names_services_and_graceful_termination(kubectl: Kubectl, namespace: str) -> None:
    recorder = python(
        "main",
        RECORDER,
        env=[{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        ports=[{"containerPort": 8080, "name": "http"}],
        readinessProbe={"tcpSocket": {"port": "http"}, "periodSeconds": 1},
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "recorder"},
        "spec": {"selector": {"app": "recorder"}, "ports": [{"port": 8080, "targetPort": "http"}]},
    }
    hook = "import urllib.request; urllib.request.urlopen('http://recorder.%s.svc.cluster.local:8080/prestop').read()"
    graceful = python(
        "main",
        GRACEFUL,
        lifecycle={"preStop": {"exec": {"command": ["python3", "-c", hook % namespace]}}},
    )
    stubborn = python(
        "main", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    )
    kubectl.apply(namespace, [service, pod("recorder", [recorder], terminationGracePeriodSeconds=1)])
    wait_for(
        lambda: is_ready(kubectl.json("get", "pod", "recorder", "-n", namespace)),
        seconds=30,
        what="recorder Ready",
    )

    # A ClusterIP Service answers from the host (the bed's proxy).
    cluster_ip = kubectl.json("get", "service", "recorder", "-n", namespace)["spec"]["clusterIP"]
    with urllib.request.urlopen(f"http://{cluster_ip}:8080/from-host", timeout=5) as reply:
        assert reply.read() == b"ok"

    kubectl.apply(
        namespace,
        [
            pod("graceful", [graceful], terminationGracePeriodSeconds=20),
            pod("stubborn", [stubborn], terminationGracePeriodSeconds=3),
        ],
    )
    wait_for(
        lambda: "hit /started" in logs(kubectl, namespace, "recorder"), seconds=30, what="graceful started"
    )
    wait_for(lambda: phase(kubectl, namespace, "stubborn") == "Running", seconds=30, what="stubborn running")

    began = time.monotonic()
    kubectl("delete", "pod", "graceful", "-n", namespace, "--wait=true", timeout=60)
    graceful_seconds = time.monotonic() - began
    began = time.monotonic()
    kubectl("delete", "pod", "stubborn", "-n", namespace, "--wait=true", timeout=60)
    stubborn_seconds = time.monotonic() - began

    hits = [line for line in logs(kubectl, namespace, "recorder").splitlines() if line.startswith("hit ")]
    assert hits == ["hit /from-host", "hit /started", "hit /prestop", "hit /sigterm"]  # preStop, then SIGTERM
    assert graceful_seconds < 15, "a process that exits on SIGTERM does not wait out the grace period"
    assert 3 <= stubborn_seconds < 20, "SIGTERM ignored: killed once the 3 s grace period is over"


CPUS = (
    "print([l.split(':')[1].strip() for l in open('/proc/self/status')"
    " if l.startswith('Cpus_allowed_list')][0], flush=True)"
)


def _cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def test_guaranteed_pods_with_whole_cpus_get_cores_of_their_own(kubectl: Kubectl, namespace: str) -> None:
    guaranteed = python(
        "main",
        CPUS + "; import time; time.sleep(600)",
        resources={"limits": {"cpu": "1", "memory": "64Mi"}, "requests": {"cpu": "1", "memory": "64Mi"}},
    )
    shared = python("main", CPUS + "; import time; time.sleep(600)")
    kubectl.apply(namespace, [pod("pinned", [guaranteed], terminationGracePeriodSeconds=1)])
    pinned_line = wait_for(lambda: logs(kubectl, namespace, "pinned").strip(), seconds=30, what="pinned cpus")
    kubectl.apply(namespace, [pod("shared", [shared], terminationGracePeriodSeconds=1)])
    shared_line = wait_for(lambda: logs(kubectl, namespace, "shared").strip(), seconds=30, what="shared cpus")
    assert kubectl.json("get", "pod", "pinned", "-n", namespace)["status"]["qosClass"] == "Guaranteed"
    machine = os.sched_getaffinity(0)
    pinned, others = _cpu_list(pinned_line), _cpu_list(shared_line)
    if len(machine) >= 2:  # one core is reserved for the system, as the kubelet's reservedSystemCPUs
        assert len(pinned) == 1, pinned_line
        assert not pinned & others, f"exclusive core {pinned} also given to a shared pod ({others})"
    else:
        assert pinned == others == machine
