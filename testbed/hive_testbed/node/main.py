"""The node agent process: several kubelets, the cluster network and the local volume provisioner.

``hive dev up`` starts it after the control plane. Each part authenticates with its own client
certificate from the bed's PKI. SIGTERM stops every pod (SIGTERM, grace, SIGKILL) and exits; the
pod objects stay, and the next start runs them again, as a rebooted node does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import ssl
from pathlib import Path

from hive_testbed.kube import KubeClient
from hive_testbed.node.cpus import CpuManager
from hive_testbed.node.kubelet import Image, Kubelet
from hive_testbed.node.network import ClusterNetwork
from hive_testbed.node.provisioner import LocalProvisioner
from hive_testbed.plane.bootstrap import PROVISIONER_NAME
from hive_testbed.plane.components import Layout, Network


class _Stopped(Exception):
    """SIGTERM or SIGINT: end the task group, stopping every pod on the way out."""


def _client(layout: Layout, server: str, identity: str) -> KubeClient:
    pki = layout.pki
    return KubeClient(
        server, ca_file=pki / "ca.crt", cert_file=pki / f"{identity}.crt", key_file=pki / f"{identity}.key"
    )


async def run(
    layout: Layout, *, nodes: int, loopback: Network, images: dict[str, Image], restart_backoff: float
) -> None:
    state = json.loads(layout.state_file.read_text())
    port = int(state["ports"]["apiserver"])
    server = f"https://127.0.0.1:{port}"
    network = ClusterNetwork(_client(layout, server, "network"), apiserver=("127.0.0.1", port))
    provisioner = LocalProvisioner(
        _client(layout, server, "local-provisioner"), name=PROVISIONER_NAME, root=layout.node_root / "volumes"
    )
    cpus = CpuManager()
    kubelets = [
        Kubelet(
            _client(layout, server, f"node-{index}"),
            name=f"hive-node-{index}",
            index=index,
            pod_octet=loopback.pod_octet(index),
            root=layout.node_root,
            network=network,
            cpus=cpus,
            images=images,
            restart_backoff=restart_backoff,
        )
        for index in range(nodes)
    ]
    for index, kubelet in enumerate(kubelets):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(layout.pki / "ca.crt"))
        context.verify_mode = ssl.CERT_REQUIRED  # only the API server's kubelet-client certificate
        context.load_cert_chain(
            layout.pki / f"node-{index}-serving.crt", layout.pki / f"node-{index}-serving.key"
        )
        kubelet.server_ssl = context
    cpus.shared_pids = lambda: [
        pid
        for kubelet in kubelets
        for runtime in kubelet.pods.values()
        if not runtime.exclusive
        for pid in runtime.pids()
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    async def until_stopped() -> None:
        await stop.wait()
        raise _Stopped

    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(network.run())
            group.create_task(provisioner.run())
            for kubelet in kubelets:
                group.create_task(kubelet.run())
            group.create_task(until_stopped())
    except* _Stopped:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="hive_testbed.node.main")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--network", type=int, default=0, help="the bed's loopback network index")
    parser.add_argument("--image", action="append", default=[], metavar="NAME=COMMAND")
    parser.add_argument("--restart-backoff", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    images = {
        name: Image(entrypoint=tuple(command.split()))
        for name, _, command in (spec.partition("=") for spec in args.image)
    }
    asyncio.run(
        run(
            Layout(args.state_dir.resolve()),
            nodes=args.nodes,
            loopback=Network(args.network),
            images=images,
            restart_backoff=args.restart_backoff,
        )
    )


if __name__ == "__main__":
    main()
