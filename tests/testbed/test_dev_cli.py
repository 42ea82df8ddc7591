"""``hive dev up --background`` / ``hive dev down`` as a user runs them: real processes, real kubectl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from hive_testbed.rawclient import RawClient

REPO = Path(__file__).resolve().parents[2]


def _hive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hive_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_dev_up_background_installs_crds_and_down_stops_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = _hive(
        "dev",
        "up",
        "--background",
        "--state-dir",
        str(state),
        "--port",
        "0",
        "--crds",
        str(REPO / "tests/testbed/manifests"),
    )
    assert up.returncode == 0, up.stderr
    assert "export KUBECONFIG=" in up.stdout
    info = json.loads((state / "testbed.json").read_text())
    client = RawClient.from_kubeconfig(Path(info["kubeconfig"]))
    crds = client.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    assert [c["metadata"]["name"] for c in crds["items"]] == ["widgets.example.dev"]
    assert client.get("/readyz").status == 200

    second = _hive("dev", "up", "--background", "--state-dir", str(state), "--port", "0")
    assert second.returncode != 0  # one test bed per state directory

    down = _hive("dev", "down", "--state-dir", str(state))
    assert down.returncode == 0, down.stderr
    assert not (state / "testbed.pid").exists()
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        pass
    else:
        os.kill(int(info["pid"]), signal.SIGKILL)
        raise AssertionError("the test bed process survived hive dev down")
    assert _hive("dev", "down", "--state-dir", str(state)).returncode == 1


def test_dev_up_refuses_non_loopback(tmp_path: Path) -> None:
    result = _hive("dev", "up", "--state-dir", str(tmp_path), "--host", "0.0.0.0")
    assert result.returncode != 0
    assert "loopback" in result.stderr
