"""Reading the cpuset: the kernel list format and the cgroup files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hive_runtime.platform import format_cpu_list, parse_cpu_list, read_cpuset


@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0-3", {0, 1, 2, 3}), ("0,2,4-5\n", {0, 2, 4, 5}), ("", set()), ("7", {7}), (" 1 , 3-3 ", {1, 3})],
)
def test_parse_cpu_list(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


def test_bad_cpu_list_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_cpu_list("3-1")


@given(st.frozensets(st.integers(0, 200), max_size=40))
def test_format_is_the_inverse_of_parse(cpus: frozenset[int]) -> None:
    assert parse_cpu_list(format_cpu_list(cpus)) == cpus


def test_read_cpuset_intersects_affinity_and_cgroup(tmp_path: Path) -> None:
    affinity = os.sched_getaffinity(0)
    one = min(affinity)
    (tmp_path / "cpuset.cpus.effective").write_text(f"{one}\n")
    (tmp_path / "online").write_text(format_cpu_list(frozenset(affinity)) + "\n")
    cpuset = read_cpuset(
        cgroup_files=(tmp_path / "missing", tmp_path / "cpuset.cpus.effective"),
        online_file=tmp_path / "online",
    )
    assert cpuset.usable == {one}
    assert cpuset.cgroup == {one}
    assert cpuset.is_whole_machine == (len(affinity) == 1)


def test_read_cpuset_of_this_machine() -> None:
    cpuset = read_cpuset()
    assert cpuset.affinity == frozenset(os.sched_getaffinity(0))
    assert cpuset.usable
    assert cpuset.usable <= cpuset.affinity
