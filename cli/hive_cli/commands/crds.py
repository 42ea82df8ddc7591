"""``hive crds generate [--check]``: regenerate the CRDs, the chart's copy and docs/api.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("crds", help="generate the CRDs and API reference from the models")
    actions = parser.add_subparsers(dest="crds_action", metavar="ACTION")
    actions.required = True
    generate = actions.add_parser("generate", help="write crds/, charts/hive/crds/ and docs/api.md")
    generate.add_argument("--check", action="store_true", help="exit 1 when any generated file is stale")
    generate.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    generate.set_defaults(handler=_generate)


def _generate(args: argparse.Namespace) -> int:
    from hive_operator.api.generate import stale_files, write_generated

    if args.check:
        stale = stale_files(args.root)
        for path in stale:
            print(f"stale: {path} (run: hive crds generate)", file=sys.stderr)
        if stale:
            return 1
        print("generated files are current")
        return 0
    changed = write_generated(args.root)
    for path in changed:
        print(f"wrote {path}")
    if not changed:
        print("generated files are current")
    return 0
