"""Secret files reload in place, including the kubelet's atomic ``..data`` symlink swap."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry

from hive_runtime.secretfiles import SecretFiles


def _kubelet_layout(directory: Path, version: str, files: dict[str, bytes]) -> None:
    """Write ``files`` like the kubelet: a timestamped dir, ``..data`` -> it, names -> ``..data/name``."""
    versioned = directory / f"..{version}"
    versioned.mkdir()
    for name, content in files.items():
        (versioned / name).write_bytes(content)
    temporary = directory / "..data_tmp"
    temporary.symlink_to(versioned.name)
    os.replace(temporary, directory / "..data")
    for name in files:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_kubelet_swap_is_seen_and_subscribers_hear_which_names_changed(tmp_path: Path) -> None:
    _kubelet_layout(tmp_path, "v1", {"backup.key": b"k1", "audit.key": b"a1"})
    clock = FakeClock()
    registry = CollectorRegistry()
    secrets = SecretFiles(tmp_path, poll_interval=2.0, clock=clock, registry=registry)
    heard: list[frozenset[str]] = []
    secrets.subscribe(heard.append)
    assert secrets.names() == ["audit.key", "backup.key"]
    assert secrets.get("backup.key") == b"k1"
    first_hash = secrets.versions_hash

    _kubelet_layout(tmp_path, "v2", {"backup.key": b"k2", "audit.key": b"a1"})
    clock.now = 1.0
    assert secrets.poll_if_due() == frozenset()  # not due yet
    clock.now = 2.0
    assert secrets.poll_if_due() == {"backup.key"}
    assert secrets.get("backup.key") == b"k2"
    assert heard == [frozenset({"backup.key"})]
    assert secrets.versions_hash != first_hash
    assert secrets.poll() == frozenset()
    assert registry.get_sample_value("hive_secret_reloads_total") == 1


def test_contents_never_show_in_repr_or_hash(tmp_path: Path) -> None:
    (tmp_path / "token").write_bytes(b"super-secret-value")
    secrets = SecretFiles(tmp_path)
    assert "super-secret-value" not in repr(secrets)
    assert "super-secret-value" not in secrets.versions_hash
    assert "token" in repr(secrets)


def test_added_and_removed_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"1")
    secrets = SecretFiles(tmp_path)
    (tmp_path / "b").write_bytes(b"2")
    (tmp_path / "a").unlink()
    assert secrets.poll() == {"a", "b"}
    assert secrets.names() == ["b"]
