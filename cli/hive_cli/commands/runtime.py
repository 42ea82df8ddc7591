"""``hive runtime serve --config FILE``: the runtime pod's entrypoint; ``hive runtime restore``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("runtime", help="run or prepare a runtime node")
    actions = parser.add_subparsers(dest="runtime_action", metavar="ACTION")
    actions.required = True
    serve = actions.add_parser("serve", help="run a node until SIGTERM")
    serve.add_argument("--config", type=Path, required=True, help="node configuration (YAML or JSON)")
    serve.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration field (dotted key, YAML value), e.g. --set raft.tick_ms=5",
    )
    serve.add_argument("--log-level", default="INFO")
    serve.set_defaults(handler=_serve)
    restore = actions.add_parser("restore", help="bootstrap an empty data directory from a backup")
    restore.add_argument("--config", type=Path, required=True)
    restore.add_argument("--backup", type=Path, required=True, help="backup file")
    restore.add_argument("--key", type=Path, required=True, help="file holding the 32-byte backup key")
    restore.set_defaults(handler=_restore)


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from hive_runtime.config import ConfigError, load_config, parse_overrides
    from hive_runtime.node.app import serve

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(args.config, parse_overrides(args.set))
    except ConfigError as error:
        print(f"hive runtime serve: {error}", file=sys.stderr)
        return 2
    asyncio.run(serve(config))  # asyncio's own loop: the TLS server cannot run on uvloop (transport docs)
    return 0


def _restore(args: argparse.Namespace) -> int:
    from hive_runtime import raft
    from hive_runtime.config import ConfigError, load_config
    from hive_runtime.node.backup import BackupError, load_key, open_sealed
    from hive_runtime.node.durable import restore_from_snapshot

    try:
        config = load_config(args.config)
        contents = open_sealed(args.backup.read_bytes(), load_key(args.key))
        restore_from_snapshot(
            config.data_dir / "raft",
            index=contents.index,
            term=contents.term,
            members=raft.ConfState(config.initial_voters),
            state=contents.state,
        )
    except (ConfigError, BackupError, OSError) as error:
        print(f"hive runtime restore: {error}", file=sys.stderr)
        return 2
    print(f"restored index {contents.index} digest {contents.digest} into {config.data_dir}")
    return 0
