"""``hive local up`` (a local cluster until interrupted) and ``hive local demo``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("local", help="run a local cluster of real runtime processes on loopback")
    actions = parser.add_subparsers(dest="local_action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="start a cluster and keep it running until interrupted")
    up.add_argument("--replicas", type=int, default=3, choices=(1, 3, 5, 7))
    up.add_argument("--data-dir", type=Path, required=True)
    up.set_defaults(handler=_up)
    demo = actions.add_parser("demo", help="trade, kill the leader, show nothing acknowledged was lost")
    demo.add_argument("--data-dir", type=Path, default=None, help="keep the cluster's files here")
    demo.add_argument("--orders", type=int, default=300, help="orders per client")
    demo.set_defaults(handler=_demo)


def _up(args: argparse.Namespace) -> int:
    import asyncio

    from hive_cli.local.cluster import LocalCluster

    async def main() -> int:
        cluster = LocalCluster(args.data_dir, replicas=args.replicas)
        cluster.start_all()
        try:
            leader = await cluster.wait_ready(within=60)
            print(f"cluster {cluster.cluster} is up; leader node {leader}")
            for node_id, node in cluster.nodes.items():
                ports = cluster.ports
                print(
                    f"  node {node_id}: client {node.host}:{ports['client']}  admin https://{node.host}:{ports['admin']}"
                    f"  probe http://{node.host}:{ports['probe']}/readyz  metrics http://{node.host}:{ports['metrics']}/metrics"
                )
            files = cluster.client_tls_files
            print(f"client certificate: {files.cert} (key {files.key}, CA {files.ca})")
            print("press Ctrl-C to stop")
            await asyncio.Event().wait()
        finally:
            cluster.stop_all()
        return 0

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return 0


def _demo(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from hive_cli.local.demo import run_demo

    if args.data_dir is not None:
        return asyncio.run(run_demo(args.data_dir, orders_per_trader=args.orders))
    with tempfile.TemporaryDirectory(prefix="hive-demo-") as directory:
        return asyncio.run(run_demo(Path(directory), orders_per_trader=args.orders))
