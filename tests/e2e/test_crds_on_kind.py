"""On a real API server: the generated CRDs install, samples are admitted, the corpus is rejected."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .conftest import kubectl_binary

REPO = Path(__file__).resolve().parents[2]
INVALID = sorted((REPO / "tests/api/invalid").glob("*.yaml"))
SAMPLES = sorted((REPO / "manifests/samples").glob("*.yaml"))


def _kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(kubectl_binary()), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture(scope="module")
def installed(kubeconfig: Path) -> Path:
    result = _kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
    assert result.returncode == 0, result.stderr
    for crd in ("hiveclusters.hive.dev", "hivebackups.hive.dev"):
        waited = _kubectl(kubeconfig, "wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
        assert waited.returncode == 0, waited.stderr
    for namespace in ("trading", "hive-dev"):
        _kubectl(kubeconfig, "create", "namespace", namespace)
    return kubeconfig


@pytest.mark.e2e
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_real_api_server_admits_sample(path: Path, installed: Path) -> None:
    result = _kubectl(installed, "apply", "--dry-run=server", "-f", str(path))
    assert result.returncode == 0, result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_real_api_server_rejects_invalid_manifest(path: Path, installed: Path) -> None:
    text = path.read_text()
    field = re.search(r"^# expect: (.+)$", text, re.M)
    assert field
    result = _kubectl(installed, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=text)
    assert result.returncode != 0, f"{path.name} was admitted by the API server"
    assert field.group(1).strip().split("[")[0] in result.stderr, result.stderr
