"""``hive operator run``: the Hive operator (kopf) with its liveness endpoint, its own metrics and,
with ``--peering``, active/standby among replicas (kopf peering with distinct priorities)."""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("operator", help="run the Hive operator")
    actions = parser.add_subparsers(dest="operator_action", metavar="ACTION")
    actions.required = True
    run = actions.add_parser("run", help="reconcile HiveClusters until SIGTERM")
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all-namespaces", action="store_true", help="watch every namespace (ClusterRole)")
    scope.add_argument(
        "--namespace", action="append", default=[], help="watch only this namespace (repeatable; Role)"
    )
    run.add_argument("--kubeconfig", help="kubeconfig file (default: the pod's service account)")
    run.add_argument(
        "--operator-namespace",
        default=os.environ.get("POD_NAMESPACE", "hive-system"),
        help="namespace the operator's pods run in (the NetworkPolicy admits the admin port from there)",
    )
    run.add_argument(
        "--metrics-address", default="0.0.0.0:9090", help="HOST:PORT of /metrics ('' to disable)"
    )
    run.add_argument(
        "--liveness-address", default="0.0.0.0:8080", help="HOST:PORT of /healthz ('' to disable)"
    )
    run.add_argument(
        "--peering", help="kopf peering name: active/standby among replicas (default: standalone)"
    )
    run.add_argument(
        "--priority",
        default="auto",
        help="peering priority (highest alive is active); 'auto': a distinct one from the pod name",
    )
    run.add_argument(
        "--peering-lifetime",
        type=int,
        default=60,
        help="seconds a peer that stopped refreshing its peering entry is still taken as alive",
    )
    run.add_argument("--interval", type=float, default=10.0, help="status refresh period, seconds")
    run.add_argument("--log-level", default="INFO")
    run.set_defaults(handler=_run)


def _address(text: str) -> tuple[str, int] | None:
    if not text:
        return None
    host, _, port = text.rpartition(":")
    return host or "0.0.0.0", int(port)


def auto_priority(identity: str) -> int:
    """A priority from the pod name: distinct among replicas (equal priorities freeze kopf peers)."""
    import hashlib

    return 1 + int(hashlib.sha256(identity.encode()).hexdigest()[:7], 16)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import socket

    import kopf
    from prometheus_client import start_http_server

    from hive_operator.handlers import OperatorOptions, build_registry
    from hive_operator.metrics import OperatorMetrics
    from hive_operator.specs import OperatorContext

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    identity = os.environ.get("POD_NAME") or socket.gethostname()
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # a path, read by kopf's own login
    metrics = OperatorMetrics()
    metrics_address = _address(args.metrics_address)
    if metrics_address is not None:
        start_http_server(metrics_address[1], addr=metrics_address[0], registry=metrics.registry)
    options = OperatorOptions(
        context=OperatorContext(namespace=args.operator_namespace),
        kubeconfig=args.kubeconfig,
        reporter=identity,
        metrics=metrics,
        interval=args.interval,
        peering=args.peering,
        peering_namespaces=() if args.all_namespaces else tuple(args.namespace),
        peering_lifetime=args.peering_lifetime,
    )
    liveness = _address(args.liveness_address)
    priority = auto_priority(identity) if args.priority == "auto" else int(args.priority)
    try:
        asyncio.run(
            kopf.operator(
                registry=build_registry(options),
                standalone=args.peering is None,
                peering_name=args.peering,
                priority=priority,
                clusterwide=args.all_namespaces,
                namespaces=args.namespace,
                liveness_endpoint=f"http://{liveness[0]}:{liveness[1]}/healthz" if liveness else None,
            )
        )
    except KeyboardInterrupt:
        return 0
    print("hive operator: stopped", file=sys.stderr)
    return 0
