"""The Helm chart lints and renders with the real helm (installed into .venv by `make`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HELM = shutil.which("helm", path=str(Path(sys.executable).parent)) or shutil.which("helm")


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    if HELM is None:
        pytest.fail("helm is not installed (make installs it: hive tools install-helm)", pytrace=False)
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=False, timeout=120)


def test_chart_lints() -> None:
    result = _helm("lint", str(REPO / "charts/hive"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_chart_renders_the_generated_crds() -> None:
    result = _helm("template", "hive", str(REPO / "charts/hive"), "--include-crds")
    assert result.returncode == 0, result.stderr
    rendered = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    names = sorted(doc["metadata"]["name"] for doc in rendered if doc["kind"] == "CustomResourceDefinition")
    assert names == ["hivebackups.hive.dev", "hiveclusters.hive.dev"]
    for doc in rendered:
        file = REPO / "crds" / f"hive.dev_{doc['spec']['names']['plural']}.yaml"
        assert doc == yaml.safe_load(file.read_text())
