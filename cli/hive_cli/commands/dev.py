"""``hive dev up`` / ``hive dev down``: a local Docker-free Kubernetes test bed (see docs/testbed.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STATE = Path(".hive") / "dev"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dev", help="run the local test bed (Kubernetes API emulator on loopback)")
    actions = parser.add_subparsers(dest="dev_action", metavar="ACTION")
    actions.required = True

    up = actions.add_parser("up", help="start the test bed; stays up until interrupted")
    up.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="where to write the kubeconfig (default: <state-dir>/kubeconfig)",
    )
    up.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="pid, log and ready files")
    up.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    up.add_argument("--port", type=int, default=16443, help="API port (0 picks a free one)")
    up.add_argument("--crds", type=Path, default=Path("crds"), help="directory of CRD manifests to install")
    up.add_argument("--no-crds", action="store_true", help="do not install CRDs")
    up.add_argument("--no-node", action="store_true", help="do not run the node agent (pods stay Pending)")
    up.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="command for containers of an image without a command ({tag} is the image tag)",
    )
    up.add_argument("--background", action="store_true", help="detach; stop later with `hive dev down`")
    up.set_defaults(handler=_up)

    down = actions.add_parser("down", help="stop a test bed started with --background")
    down.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    down.set_defaults(handler=_down)


def _options(args: argparse.Namespace) -> object:
    from hive_testbed.devserver import DevOptions

    if not args.host.startswith("127."):
        raise SystemExit("the test bed listens on loopback only (127.0.0.0/8)")
    state_dir = args.state_dir.resolve()
    return DevOptions(
        state_dir=state_dir,
        kubeconfig=(args.kubeconfig or state_dir / "kubeconfig").resolve(),
        host=args.host,
        port=args.port,
        crds_dir=None if args.no_crds else args.crds.resolve(),
        node=not args.no_node,
        images=tuple(tuple(spec.split("=", 1)) for spec in args.image if "=" in spec),
    )


def _up(args: argparse.Namespace) -> int:
    import asyncio

    from hive_testbed import devserver

    options = _options(args)
    assert isinstance(options, devserver.DevOptions)
    if args.background:
        info = devserver.start_background(options, devserver.foreground_argv(options))
        crds = info.get("crds")
        print(
            devserver.next_steps(
                options.kubeconfig, str(info["url"]), list(crds) if isinstance(crds, list) else []
            )
        )
        print(
            f"running in the background (pid {info['pid']}); "
            f"stop with: hive dev down --state-dir {options.state_dir}"
        )
        return 0
    asyncio.run(devserver.run_foreground(options))
    return 0


def _down(args: argparse.Namespace) -> int:
    from hive_testbed.devserver import DevOptions, stop_background

    state_dir = args.state_dir.resolve()
    options = DevOptions(state_dir=state_dir, kubeconfig=state_dir / "kubeconfig")
    if stop_background(options):
        print("test bed stopped")
        return 0
    print(f"no test bed running (no live pid in {options.pid_file})")
    return 1
