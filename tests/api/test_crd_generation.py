"""The CRDs, the chart's copy and docs/api.md are generated from the models and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from hive_operator.api import crd as crd_module
from hive_operator.api.cluster import HiveClusterSpec
from hive_operator.api.generate import generated_files, stale_files, write_generated

REPO = Path(__file__).resolve().parents[2]


def _hive(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hive_cli.main", *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_generated_files_in_the_repository_are_current() -> None:
    assert stale_files(REPO) == [], "run: hive crds generate"


def test_check_command_passes_on_the_repository() -> None:
    result = _hive("crds", "generate", "--check", cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_check_command_fails_when_a_generated_file_was_edited(tmp_path: Path) -> None:
    write_generated(tmp_path)
    target = tmp_path / "charts/hive/crds/hive.dev_hiveclusters.yaml"
    target.write_text(target.read_text().replace("minimum: 1", "minimum: 0", 1))
    result = _hive("crds", "generate", "--check", "--root", str(tmp_path), cwd=REPO)
    assert result.returncode == 1
    assert "charts/hive/crds/hive.dev_hiveclusters.yaml" in result.stderr


def test_check_fails_for_a_leftover_crd_file(tmp_path: Path) -> None:
    write_generated(tmp_path)
    (tmp_path / "crds" / "hive.dev_old.yaml").write_text("kind: CustomResourceDefinition\n")
    assert Path("crds/hive.dev_old.yaml") in stale_files(tmp_path)


def test_changing_a_model_without_regenerating_makes_the_check_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_generated(tmp_path)

    class ChangedSpec(HiveClusterSpec):
        new_knob: int = Field(default=1, description="a field added to the model")

    monkeypatch.setattr(crd_module, "HiveClusterSpec", ChangedSpec)
    stale = stale_files(tmp_path)
    assert Path("crds/hive.dev_hiveclusters.yaml") in stale
    assert Path("charts/hive/crds/hive.dev_hiveclusters.yaml") in stale
    assert Path("docs/api.md") in stale


def test_generate_writes_every_file_and_is_idempotent(tmp_path: Path) -> None:
    first = write_generated(tmp_path)
    assert sorted(first) == sorted(generated_files())
    assert write_generated(tmp_path) == []


def test_chart_copy_equals_crds_directory() -> None:
    for path in sorted((REPO / "crds").glob("*.yaml")):
        assert (REPO / "charts/hive/crds" / path.name).read_text() == path.read_text()
