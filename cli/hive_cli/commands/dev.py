"""``hive dev build|up|down|gomod``: the local test bed, a real Kubernetes control plane on loopback.

``build`` compiles kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd from
our pinned Go modules into a cache outside the clone (once per machine); ``up`` starts them with
the node agent and returns when every node is Ready; ``down`` stops what ``up`` started. See
docs/testbed.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STATE = Path(".hive") / "dev"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "dev", help="the local test bed: a real Kubernetes control plane on loopback"
    )
    actions = parser.add_subparsers(dest="dev_action", metavar="ACTION")
    actions.required = True

    build = actions.add_parser("build", help="build the Kubernetes and etcd binaries (skipped when built)")
    build.add_argument("--force", action="store_true", help="rebuild even when the binaries are current")
    build.set_defaults(handler=_build)

    gomod = actions.add_parser(
        "gomod", help="regenerate testbed/k8s/go.mod's replace list from k8s.io/kubernetes"
    )
    gomod.add_argument("--check", action="store_true", help="fail when the committed list is stale")
    gomod.set_defaults(handler=_gomod)

    up = actions.add_parser("up", help="start the control plane and node agent; returns when nodes are Ready")
    up.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE, help="data, logs, certificates, kubeconfig"
    )
    up.add_argument("--nodes", type=int, default=3, help="virtual nodes run by the node agent (default 3)")
    up.add_argument(
        "--port", type=int, default=0, help="kube-apiserver port on 127.0.0.1 (0 picks a free one)"
    )
    up.add_argument("--crds", type=Path, default=Path("crds"), help="directory of CRD manifests to install")
    up.add_argument("--no-crds", action="store_true", help="do not install CRDs")
    up.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="command for containers of an image without a command ({tag} is the image tag)",
    )
    up.set_defaults(handler=_up)

    down = actions.add_parser("down", help="stop a test bed started with `hive dev up`")
    down.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    down.set_defaults(handler=_down)


def _build(args: argparse.Namespace) -> int:
    from hive_testbed import k8sbuild

    return k8sbuild.main(["--force"] if args.force else [])


def _gomod(args: argparse.Namespace) -> int:
    from hive_testbed import k8sbuild

    path = k8sbuild.MODULES / "k8s" / "go.mod"
    rendered = k8sbuild.render_k8s_gomod(k8sbuild.kubernetes_gomod())
    current = path.read_text()
    if k8sbuild.replace_block(rendered) == k8sbuild.replace_block(current):
        print(f"{path}: replace list matches k8s.io/kubernetes {k8sbuild.KUBERNETES_VERSION}")
        return 0
    if args.check:
        print(f"{path}: replace list is stale; run `hive dev gomod` then `go mod tidy` in testbed/k8s")
        return 1
    path.write_text(rendered)
    print(f"wrote {path}; now run `GOTOOLCHAIN=local go mod tidy` in {path.parent}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from hive_testbed.plane.launcher import Plane, PlaneError, PlaneOptions

    images = tuple((name, command) for name, _, command in (s.partition("=") for s in args.image) if command)
    options = PlaneOptions(
        state_dir=args.state_dir.resolve(),
        nodes=args.nodes,
        crds_dir=None if args.no_crds else args.crds.resolve(),
        apiserver_port=args.port,
        extra_images=images,
    )
    plane = Plane(options)
    try:
        info = plane.up()
    except PlaneError as exc:
        print(f"error: {exc}")
        return 1
    print(f"Kubernetes control plane ready at {info['url']} in {info['seconds']} s ({args.nodes} nodes)")
    print(f"  kubeconfig: {info['kubeconfig']}")
    if info["crds"]:
        print(f"  installed CRDs: {', '.join(info['crds'])}")
    print(f"  logs: {plane.layout.logs}")
    print(f"  export KUBECONFIG={info['kubeconfig']}")
    print(f"  stop with: hive dev down --state-dir {args.state_dir}")
    return 0


def _down(args: argparse.Namespace) -> int:
    from hive_testbed.plane.launcher import Plane, PlaneOptions

    stopped = Plane(PlaneOptions(state_dir=args.state_dir.resolve())).down()
    if stopped:
        print(f"stopped {', '.join(stopped)}")
        return 0
    print(f"no test bed running from {args.state_dir}")
    return 1
