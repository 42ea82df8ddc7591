"""``hive sim``: per-seed lines, aggregate line, JSON last line, replay command, exit codes."""

from __future__ import annotations

import json

import pytest

from hive_cli.main import main


def test_sim_prints_one_line_per_seed_and_json_last(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "--seeds", "3-5", "--nodes", "3", "--steps", "200", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert [line.split(":")[0] for line in lines[:3]] == ["seed 3", "seed 4", "seed 5"]
    assert lines[-2].startswith("total: seeds=3 violations=0")
    summary = json.loads(lines[-1])
    for key in (
        "seeds",
        "violations",
        "unknown",
        "operations",
        "elections",
        "simulated_seconds",
        "wall_seconds",
        "speedup",
    ):
        assert key in summary
    assert summary["seeds"] == 3 and summary["violations"] == 0
    assert summary["simulated_seconds"] == pytest.approx(60.0, rel=0.01)


def test_failing_seed_prints_replay_command_and_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "--seeds", "1-60", "--steps", "600", "--plant-bug", "grant-two-votes", "--json"])
    out = capsys.readouterr().out
    assert code == 1
    assert "replay with: hive sim --seeds" in out and "--plant-bug grant-two-votes" in out
    assert "last events:" in out and "deliver" in out
    assert json.loads(out.strip().splitlines()[-1])["violations"] >= 1


def test_bad_seed_range_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        main(["sim", "--seeds", "9-2"])
