"""Import layering: the pure cores stay pure, and the packages depend on each other one way only.

Each rule follows imports transitively through the project's own modules (static imports,
including those inside functions), so a pure module cannot reach a clock or a socket through a
helper either.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = {
    "hive_operator": REPO / "operator",
    "hive_runtime": REPO / "runtime",
    "hive_cli": REPO / "cli",
    "hive_testbed": REPO / "testbed",
    "hive_sim": REPO / "sim",
}
IO_AND_CLOCKS = {"asyncio", "socket", "time", "random", "threading", "selectors", "ssl", "subprocess"}
KUBERNETES_CLIENTS = {"kubernetes", "kopf", "aiohttp", "kubernetes_asyncio"}


def _module_file(module: str) -> Path | None:
    top = module.split(".", maxsplit=1)[0]
    if top not in SOURCE_ROOTS:
        return None
    base = SOURCE_ROOTS[top].joinpath(*module.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _modules_under(package: str) -> list[str]:
    file = _module_file(package)
    assert file is not None, f"{package} does not exist"
    if file.name != "__init__.py":
        return [package]
    root = file.parent
    modules = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules.append(".".join([package, *parts]))
    return modules


@cache
def _direct_imports(module: str) -> frozenset[str]:
    file = _module_file(module)
    if file is None:
        return frozenset()
    tree = ast.parse(file.read_text(), filename=str(file))
    is_package = file.name == "__init__.py"
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            imported.add(base)
            imported.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in imported if name)


def _reachable(package: str) -> tuple[set[str], set[str]]:
    """Project modules reachable from ``package`` and the external names they import."""
    seen: set[str] = set()
    external: set[str] = set()
    queue = _modules_under(package)
    while queue:
        module = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _direct_imports(module):
            if _module_file(name) is not None:
                queue.append(name)
            elif name.split(".")[0] not in SOURCE_ROOTS:
                external.add(name.split(".")[0])
    return seen, external


@pytest.mark.parametrize("package", ["hive_runtime.raft", "hive_runtime.trading"])
def test_deterministic_cores_import_no_io_clock_or_randomness(package: str) -> None:
    _, external = _reachable(package)
    assert external & IO_AND_CLOCKS == set()


OPERATOR_PURE_LAYERS = ["hive_operator.api", "hive_operator.pki", "hive_operator.specs", "hive_operator.plan"]


@pytest.mark.parametrize("package", OPERATOR_PURE_LAYERS)
def test_operator_pure_layers_do_not_import_the_kubernetes_client(package: str) -> None:
    _, external = _reachable(package)
    assert external & KUBERNETES_CLIENTS == set()


@pytest.mark.parametrize("package", OPERATOR_PURE_LAYERS)
def test_operator_pure_layers_do_no_io_and_read_no_clock(package: str) -> None:
    """Builders, planner and PKI take time as an argument and never touch the network or loop."""
    _, external = _reachable(package)
    assert external & IO_AND_CLOCKS == set()


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("hive_runtime", {"hive_operator", "hive_cli", "hive_testbed", "hive_sim"}),
        ("hive_operator", {"hive_cli", "hive_testbed", "hive_sim"}),
        ("hive_sim", {"hive_operator", "hive_cli", "hive_testbed"}),
        ("hive_testbed", {"hive_cli"}),
    ],
)
def test_packages_depend_one_way(package: str, forbidden: set[str]) -> None:
    modules, _ = _reachable(package)
    assert {module.split(".")[0] for module in modules} & forbidden == set()


def test_the_checker_sees_transitive_imports(tmp_path: Path) -> None:
    """The rule has teeth: hive_cli reaches the operator's API and, through it, cel-python."""
    modules, external = _reachable("hive_cli")
    assert "hive_operator.api.base" in modules
    assert "celpy" in external


def test_test_aids_live_outside_the_runtime() -> None:
    """The simulator, the linearizability checker and the reference matcher are in ``hive_sim``,
    which the runtime never imports (above): a runtime image needs none of them."""
    modules, _ = _reachable("hive_runtime")
    assert _module_file("hive_sim.raft_sim") is not None
    assert _module_file("hive_sim.linearizability") is not None
    assert _module_file("hive_sim.reference_matcher") is not None
    for module in ("hive_runtime.sim", "hive_runtime.linearizability", "hive_runtime.trading.reference"):
        assert _module_file(module) is None, f"{module} is a test aid inside the runtime"
    assert not any(module.startswith("hive_sim") for module in modules)


def test_the_raft_core_carries_no_planted_bugs() -> None:
    """Planted bugs are subclasses in ``hive_sim.planted``; the core has no switch for them."""
    from hive_runtime.raft import RaftConfig

    assert "planted_bugs" not in RaftConfig.__dataclass_fields__
    for module in _modules_under("hive_runtime.raft"):
        file = _module_file(module)
        assert file is not None
        assert "PlantedBug" not in file.read_text(), module


def test_only_the_kube_layer_calls_the_kubernetes_api_and_only_handlers_import_kopf() -> None:
    """``hive_operator.kube`` is the one place that opens connections to the API server (through
    the ``kubernetes`` package's credential loaders); kopf is glue in ``hive_operator.handlers``."""
    for module in _modules_under("hive_operator"):
        imported = {name.split(".")[0] for name in _direct_imports(module)}
        if not module.startswith("hive_operator.kube"):
            assert "kubernetes" not in imported, f"{module} imports the Kubernetes client"
        if module != "hive_operator.handlers":
            assert "kopf" not in imported, f"{module} imports kopf"
    assert "kubernetes" in {name.split(".")[0] for name in _direct_imports("hive_operator.kube.client")}
