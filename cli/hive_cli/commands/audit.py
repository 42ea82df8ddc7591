"""``hive audit``: verify an audit trail file (exit 0 only if intact) and create signing keys."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("audit", help="verify audit trails, create audit signing keys")
    actions = parser.add_subparsers(dest="audit_action", metavar="ACTION")
    actions.required = True

    verify = actions.add_parser("verify", help="check chain, checkpoints and signatures of a trail file")
    verify.add_argument("path", type=Path, help="audit trail file")
    verify.add_argument("--public-key", type=Path, help="Ed25519 public key (PEM or raw 32 bytes) to trust")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=_verify)

    keygen = actions.add_parser("keygen", help="create an Ed25519 key pair for checkpoint signing")
    keygen.add_argument(
        "--private", type=Path, required=True, help="where to write the private key (mode 0600)"
    )
    keygen.add_argument("--public", type=Path, required=True, help="where to write the public key")
    keygen.set_defaults(handler=_keygen)


def _verify(args: argparse.Namespace) -> int:
    from hive_runtime.audit.signing import KeyFileError, load_public_key
    from hive_runtime.audit.verify import verify_trail

    try:
        key = load_public_key(args.public_key) if args.public_key else None
        result = verify_trail(args.path, key)
    except (KeyFileError, OSError) as exc:
        print(f"error: {exc}")
        return 2
    if args.json:
        problem = result.problem
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "records": result.records,
                    "checkpoints": result.checkpoints,
                    "unsigned_tail": result.unsigned_tail,
                    "key_id": result.key_id,
                    "problem": None
                    if problem is None
                    else {
                        "kind": problem.kind,
                        "seq": problem.seq,
                        "item": problem.position,
                        "message": problem.message,
                    },
                    "notes": result.notes,
                },
                sort_keys=True,
            )
        )
    else:
        for note in result.notes:
            print(f"note: {note}")
        print(f"records: {result.records}  checkpoints: {result.checkpoints}  key: {result.key_id}")
        if result.unsigned_tail:
            print(f"note: the last {result.unsigned_tail} records are not yet covered by a signed checkpoint")
        if result.problem is None:
            print("OK: the trail is intact")
        else:
            print(f"TAMPERED ({result.problem.kind}): {result.problem.message}")
    return 0 if result.ok else 1


def _keygen(args: argparse.Namespace) -> int:
    from hive_runtime.audit.signing import generate_key_files

    try:
        key_id = generate_key_files(args.private, args.public)
    except FileExistsError:
        print(f"error: {args.private} exists; refusing to overwrite a key")
        return 2
    print(f"created key {key_id}: private {args.private}, public {args.public}")
    return 0
