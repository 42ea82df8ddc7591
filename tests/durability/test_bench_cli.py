"""``hive bench durability`` runs the seeds it is given and writes the table's figures as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hive_cli.main import main


def test_bench_durability_runs_a_seed_range_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "durability.json"
    assert main(["bench", "durability", "--seeds", "3-5", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["benchmark"] == "durability"
    assert (document["first_seed"], document["last_seed"], document["seeds"]) == (3, 5, 3)
    assert document["failed"] == 0 and document["power_cuts"] > 0 and document["operations"] > 0
    assert "torn writes" in capsys.readouterr().out


def test_bench_durability_refuses_a_bad_seed_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "durability", "--seeds", "9-3"])
    assert "invalid seed range" in capsys.readouterr().err
