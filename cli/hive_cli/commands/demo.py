"""``hive demo``: the main job on the embedded default, as ``make demo`` runs it.

First the API: every sample manifest is validated by the models, a bad manifest is rejected with
a message naming its field, the generated CRDs are checked against the models. Then the whole
system (:mod:`hive_cli.bed_demo`): the test bed's real control plane, the operator, a HiveCluster
applied with kubectl, trading through its client Service, the leader's pod deleted, no
acknowledged order lost. ``hive local demo`` is the runtime alone. Exit code 0 only when all of
that holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo", help="run the demo on the embedded default (no cloud, no Docker)")
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    parser.add_argument("--api-only", action="store_true", help="only the API part (no runtime processes)")
    parser.set_defaults(handler=_demo)


def _count_fields(schema: dict[str, Any]) -> tuple[int, int]:
    fields = 0
    rules = len(schema.get("x-kubernetes-validations", []))
    children = list(schema.get("properties", {}).values())
    if isinstance(schema.get("items"), dict):
        children.append(schema["items"])
    for child in children:
        child_fields, child_rules = _count_fields(child)
        fields += 1 + child_fields
        rules += child_rules
    return fields, rules


def _demo(args: argparse.Namespace) -> int:
    import yaml

    from hive_operator.api import HiveBackup, HiveCluster, ManifestError, parse_manifest
    from hive_operator.api.crd import all_crds
    from hive_operator.api.generate import stale_files

    models: dict[str, Any] = {"HiveCluster": HiveCluster, "HiveBackup": HiveBackup}
    failures = 0
    print("== Hive API (hive.dev/v1alpha1)")
    for crd in all_crds().values():
        version = crd["spec"]["versions"][0]
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        fields, rules = _count_fields(spec)
        names = crd["spec"]["names"]
        print(
            f"   {names['kind']:<12} short name {names['shortNames'][0]:<3} {fields:>3} spec fields, "
            f"{rules:>2} CEL rules, subresources: {', '.join(sorted(version['subresources']))}"
        )
    stale = stale_files(args.root)
    print(f"== Generated CRDs, chart copy and docs/api.md: {'STALE ' + str(stale) if stale else 'current'}")
    failures += bool(stale)

    print("== Sample manifests")
    for path in sorted((args.root / "manifests" / "samples").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            try:
                resource = parse_manifest(document, models[document["kind"]])
            except ManifestError as error:
                failures += 1
                print(f"   REJECTED {path.name}: {error}")
                continue
            detail = (
                f"{resource.spec.replicas} replicas, version {resource.spec.version}"
                if isinstance(resource, HiveCluster)
                else f"backup of {resource.spec.cluster}"
            )
            print(f"   ok  {path.name:<32} {document['kind']:<12} {resource.metadata.name:<22} {detail}")

    print("== A bad manifest is rejected with the field named")
    bad = {"apiVersion": "hive.dev/v1alpha1", "kind": "HiveCluster", "metadata": {"name": "bad"}}
    bad["spec"] = {"version": "0.1.0", "replicas": 4, "tls": {"mode": "certManager"}}
    try:
        parse_manifest(bad, HiveCluster)
    except ManifestError as error:
        for message in error.messages:
            print(f"   {message}")
    else:
        failures += 1
        print("   the bad manifest was accepted")

    print(f"== API: {'OK' if failures == 0 else f'{failures} problem(s)'}")
    if failures or args.api_only:
        return 0 if failures == 0 else 1

    import tempfile

    from hive_cli.bed_demo import run_bed_demo

    print("\n== The whole system on the test bed: control plane, operator, a HiveCluster, trading, failover")
    with tempfile.TemporaryDirectory(prefix="hive-demo-") as directory:
        return run_bed_demo(Path(directory))
