"""``hive contract openapi [--check]``: regenerate (or check) docs/admin-openapi.json from the
admin contract models, as ``hive crds generate`` does for the CRDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("contract", help="the runtime admin contract (OpenAPI document)")
    actions = parser.add_subparsers(dest="contract_action", metavar="ACTION")
    actions.required = True
    openapi = actions.add_parser("openapi", help="write docs/admin-openapi.json from the contract models")
    openapi.add_argument("--check", action="store_true", help="exit 1 when the document is stale")
    openapi.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    openapi.set_defaults(handler=_openapi)


def _openapi(args: argparse.Namespace) -> int:
    from hive_runtime.contract.openapi import OPENAPI_DOC, is_stale, write_document

    if args.check:
        if is_stale(args.root):
            print(f"stale: {OPENAPI_DOC} (run: hive contract openapi)", file=sys.stderr)
            return 1
        print(f"{OPENAPI_DOC} is current")
        return 0
    print(f"wrote {OPENAPI_DOC}" if write_document(args.root) else f"{OPENAPI_DOC} is current")
    return 0
