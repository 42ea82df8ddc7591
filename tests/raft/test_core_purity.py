"""The core is sans-I/O: no module of hive_runtime.raft imports I/O, clocks, threads or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import hive_runtime.raft

FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "random",
    "threading",
    "os",
    "io",
    "select",
    "selectors",
    "subprocess",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_modules_import_nothing_that_does_io() -> None:
    package = Path(hive_runtime.raft.__file__).parent
    offenders = {}
    for path in sorted(package.glob("*.py")):
        bad = {name for name in _imports(path) if name.split(".")[0] in FORBIDDEN}
        project = {
            name
            for name in _imports(path)
            if name.startswith("hive_runtime.") and not name.startswith("hive_runtime.raft")
        }
        if bad or project:
            offenders[path.name] = bad | project
    assert offenders == {}
