"""The whole system, as ``make demo`` shows it: test bed, operator, a HiveCluster, trading, failover.

Steps: start the bed (the real etcd, kube-apiserver, kube-controller-manager and kube-scheduler,
and the node agent as the kubelet of 3 nodes); start the operator (``hive operator run``); apply
a 3-replica HiveCluster with kubectl and wait for its Ready condition; set up a market through the
client Service with the operator's certificate (from the Secret the operator made); trade from
several clients with a trader certificate issued by the cluster's CA; delete the leader's pod
while they trade; see the new leader in the HiveCluster's status; check that every acknowledged
order is on the new leader. Exit 0 only if all of that holds. Everything stays on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hive_cli.local.demo import ACCOUNTS, SYMBOL, Tally, missing_acknowledged, setup_market, trader
from hive_operator.api.risk import RiskLimits
from hive_operator.pki.authority import CertificateAuthority, issue_certificate
from hive_operator.pki.identity import Identity, Role
from hive_operator.plan.risk import expected_hash, risk_defaults
from hive_operator.specs import PORTS
from hive_runtime.client import Client, ClientTls
from hive_runtime.trading.commands import NewOrderSingle
from hive_runtime.trading.types import OrdType, RejectReason, Side
from hive_testbed.kubectl import Kubectl, wait_for
from hive_testbed.plane.launcher import Plane, PlaneOptions

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "trading"
CLUSTER = "demo"
RISK_MAX_ORDER_QUANTITY = 50  # the traders send 1-10 lots; one order of 51 shows the limit at work


def _manifest() -> dict[str, Any]:
    return {
        "apiVersion": "hive.dev/v1alpha1",
        "kind": "HiveCluster",
        "metadata": {"name": CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "version": "0.1.0",
            "replicas": 3,
            "resources": {"cpu": 1, "memory": "512Mi"},
            "storage": {"size": "1Gi"},
            # Cluster-wide default limits: the operator sends them to the runtime's leader.
            "risk": {"limits": {"maxOrderQuantity": RISK_MAX_ORDER_QUANTITY}},
        },
    }


def _secret_files(kubectl: Kubectl, name: str, directory: Path) -> dict[str, bytes]:
    data = kubectl.json("get", "secret", name, "-n", NAMESPACE)["data"]
    directory.mkdir(parents=True, exist_ok=True)
    return {key: base64.b64decode(value) for key, value in data.items()}


def _write_tls(directory: Path, *, ca: bytes, cert: bytes, key: bytes) -> ClientTls:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"ca.crt": ca, "tls.crt": cert, "tls.key": key}
    for name, data in paths.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o600)
    return ClientTls(
        ca=directory / "ca.crt",
        cert=directory / "tls.crt",
        key=directory / "tls.key",
        namespace=NAMESPACE,
        cluster=CLUSTER,
    )


def _status(kubectl: Kubectl) -> dict[str, Any]:
    return dict(kubectl.json("get", "hivecluster", CLUSTER, "-n", NAMESPACE).get("status") or {})


def run_bed_demo(root: Path, *, orders_per_trader: int = 150) -> int:
    plane = Plane(PlaneOptions(state_dir=root / "bed", nodes=3, crds_dir=REPO / "crds"))
    kubectl = Kubectl(plane.kubeconfig, root / "kube-cache")
    print("== Test bed: real etcd, kube-apiserver, kube-controller-manager, kube-scheduler; 3 nodes")
    info = plane.up()
    print(f"   ready in {info['seconds']} s at {info['url']} (kubeconfig {info['kubeconfig']})")
    operator_log = root / "operator.log"
    with operator_log.open("wb") as sink:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hive_cli.main",
                "operator",
                "run",
                "--all-namespaces",
                f"--kubeconfig={plane.kubeconfig}",
                "--metrics-address=",
                "--liveness-address=",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    problems: list[str] = []
    try:
        print(f"== Operator started (hive operator run, pid {operator.pid}, log {operator_log})")
        leader = _apply_and_wait(kubectl)
        endpoint, operator_tls, trader_tls = _client_material(kubectl, root)
        print(
            f"== Client Service {CLUSTER} at {endpoint[0]}:{endpoint[1]}; "
            "a trader certificate issued by the cluster's CA"
        )
        problems += asyncio.run(
            _trade(
                kubectl,
                endpoint=endpoint,
                operator_tls=operator_tls,
                trader_tls=trader_tls,
                leader=leader,
                orders_per_trader=orders_per_trader,
            )
        )

        def back() -> bool:
            status = _status(kubectl)
            ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
            return bool(
                ready and ready[0].get("status") == "True" and int(status.get("readyReplicas") or 0) == 3
            )

        wait_for(back, seconds=120, what="all 3 replicas Ready again")
        print(f"== {leader} came back on its volume; the HiveCluster is Ready with 3 replicas")
    except Exception as error:
        problems.append(str(error))
    finally:
        operator.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            operator.wait(20)
        if operator.poll() is None:
            operator.kill()
        plane.down()
    if problems:
        print("== FAILED:\n   " + "\n   ".join(problems))
        print(f"   operator log: {operator_log}; component logs: {plane.layout.logs}")
        return 1
    print(
        "== OK: the operator built the cluster, it traded through its Service, lost its leader's pod "
        "and no acknowledged order"
    )
    return 0


def _apply_and_wait(kubectl: Kubectl) -> str:
    kubectl("create", "namespace", NAMESPACE)
    started = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(_manifest()))
    print(f"== kubectl apply: HiveCluster {NAMESPACE}/{CLUSTER}, 3 replicas")
    waited = kubectl(
        "wait",
        "--for=condition=Ready",
        f"hivecluster/{CLUSTER}",
        "-n",
        NAMESPACE,
        "--timeout=240s",
        timeout=250,
        check=False,
    )
    if waited.returncode != 0:
        raise RuntimeError(f"not Ready: {json.dumps(_status(kubectl), indent=1)}\n{waited.stderr}")
    status = _status(kubectl)
    leader = str(status.get("leader"))
    print(f"   Ready {time.monotonic() - started:.1f} s after the apply; leader {leader}")
    for member in status.get("members") or []:
        print(
            f"   {member.get('pod'):<8} {member.get('role', ''):<9} version {member.get('version')} "
            f"cpuset {member.get('cpuset')}"
        )
    return leader


def _client_material(kubectl: Kubectl, root: Path) -> tuple[tuple[str, int], ClientTls, ClientTls]:
    """The client Service's address, the operator's TLS files (from its Secret) and a trader's
    certificate issued by the cluster CA (as a firm would issue one to a trading desk)."""
    operator_files = _secret_files(kubectl, f"{CLUSTER}-operator-tls", root / "operator-tls")
    operator_tls = _write_tls(
        root / "operator-tls",
        ca=operator_files["ca.crt"],
        cert=operator_files["tls.crt"],
        key=operator_files["tls.key"],
    )
    ca_files = _secret_files(kubectl, f"{CLUSTER}-ca", root / "ca")
    authority = CertificateAuthority.from_pem(
        certificate_pem=ca_files["ca.crt"], private_key_pem=ca_files["ca.key"]
    )
    issued = issue_certificate(
        authority,
        Identity(namespace=NAMESPACE, cluster=CLUSTER, role=Role.CLIENT, name="demo-trader"),
        now=datetime.now(UTC),
        valid_for=timedelta(hours=1),
        dns_names=("demo-trader",),
    )
    trader_tls = _write_tls(
        root / "trader-tls",
        ca=operator_files["ca.crt"],
        cert=issued.certificate_pem,
        key=issued.private_key_pem,
    )
    service = kubectl.json("get", "service", CLUSTER, "-n", NAMESPACE)
    return (service["spec"]["clusterIP"], PORTS["client"]), operator_tls, trader_tls


async def _trade(
    kubectl: Kubectl,
    *,
    endpoint: tuple[str, int],
    operator_tls: ClientTls,
    trader_tls: ClientTls,
    leader: str,
    orders_per_trader: int,
) -> list[str]:
    async with Client(endpoints=[endpoint], tls=operator_tls, deadline=30) as admin:
        await setup_market(admin)
    print(f"== Market set up with the operator's certificate; {len(ACCOUNTS)} accounts")
    problems = await _risk_limit_enforced(kubectl, endpoint=endpoint, trader_tls=trader_tls)
    tally = Tally()
    stop = asyncio.Event()
    clients = [Client(endpoints=[endpoint], tls=trader_tls, deadline=30) for _ in ACCOUNTS]
    traders = [
        asyncio.create_task(trader(client, account, tally, orders=orders_per_trader, stop=stop, seed=i))
        for i, (client, account) in enumerate(zip(clients, ACCOUNTS, strict=True))
    ]
    total = orders_per_trader * len(ACCOUNTS)
    async with asyncio.timeout(120):
        while len(tally.acknowledged) < total // 4:
            await asyncio.sleep(0.01)
    print(f"== Trading through the client Service: {len(tally.acknowledged)} orders acknowledged so far")
    print(f"== kubectl delete pod {leader} (the leader) while clients keep writing")
    deleted_at = time.monotonic()
    await asyncio.to_thread(kubectl, "delete", "pod", leader, "-n", NAMESPACE, "--wait=false")

    def new_leader() -> str | None:
        current = _status(kubectl).get("leader")
        return str(current) if current and current != leader else None

    elected = await asyncio.to_thread(wait_for, new_leader, seconds=90, what="a new leader in the status")
    print(f"   new leader {elected} in the HiveCluster status {time.monotonic() - deleted_at:.1f} s later")
    await asyncio.gather(*traders)
    for client in clients:
        await client.close()
    print(tally.summary())
    async with Client(endpoints=[endpoint], tls=trader_tls, deadline=30) as checker:
        missing = await missing_acknowledged(checker, tally)
    verdict = "no" if missing else "yes"
    print(f"== Every acknowledged order is on the new leader: {verdict} ({len(tally.acknowledged)} checked)")
    if missing:
        problems.append(f"{len(missing)} acknowledged orders are missing: {missing[:5]}")
    return problems


async def _risk_limit_enforced(
    kubectl: Kubectl, *, endpoint: tuple[str, int], trader_tls: ClientTls
) -> list[str]:
    """spec.risk reached the runtime: every member reports the limits' hash, and an order over
    ``maxOrderQuantity`` is refused with that reason."""
    limits = RiskLimits.model_validate({"maxOrderQuantity": RISK_MAX_ORDER_QUANTITY})
    wanted = expected_hash(risk_defaults(limits))

    def landed() -> bool:
        members = _status(kubectl).get("members") or []
        return len(members) == 3 and all(m.get("riskDefaultsHash") == wanted for m in members)

    await asyncio.to_thread(wait_for, landed, seconds=60, what="spec.risk's limits reported by every member")
    order = NewOrderSingle(
        0,
        ACCOUNTS[0],
        "over-the-limit",
        SYMBOL,
        int(Side.BUY),
        int(OrdType.LIMIT),
        RISK_MAX_ORDER_QUANTITY + 1,
        10_000,
    )
    async with Client(endpoints=[endpoint], tls=trader_tls, deadline=30) as client:
        result = await client.submit(order)
    reason = RejectReason(result.outcome.reject_reason).name if result.outcome is not None else "no outcome"
    print(
        f"== spec.risk applied on every member (riskDefaultsHash {wanted[:12]}); an order of "
        f"{RISK_MAX_ORDER_QUANTITY + 1} lots was refused: {reason}"
    )
    if reason != "MAX_ORDER_QUANTITY":
        return [f"an order over spec.risk.limits.maxOrderQuantity was not refused for it ({reason})"]
    return []
