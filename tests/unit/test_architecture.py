"""The package layout: imports point down the layers, no import cycle, one DOLFINx compat shim.

Layers (ARCHITECTURE in the package docstring of ``ecmx.solver``): leaves (errors, units, files,
collective, _compat) → config → physics → meshes → fem → timeloop → studies → cli; postprocess
reads run directories and never imports fem, timeloop or studies. Every ``import`` statement is
read from the source, including those inside functions, so a deferred import cannot hide a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"ecmx.solver": ROOT / "solver", "ecmx.meshes": ROOT / "meshes", "ecmx.postprocess": ROOT / "postprocess"}
LEAVES = {"ecmx.solver", "ecmx.solver.errors", "ecmx.solver.units", "ecmx.solver.files",
          "ecmx.solver.collective", "ecmx.solver._compat", "ecmx.solver.threads"}
ALLOWED = {
    "leaf": {"leaf"},
    "config": {"leaf", "config"},
    "physics": {"leaf", "physics"},
    "meshes": {"leaf", "config", "physics", "meshes"},
    "fem": {"leaf", "config", "physics", "meshes", "fem"},
    "postprocess": {"leaf", "config", "physics", "meshes", "postprocess"},
    "timeloop": {"leaf", "config", "physics", "fem", "timeloop"},
    "studies": {"leaf", "config", "physics", "meshes", "fem", "timeloop", "postprocess", "studies"},
    "cli": {"leaf", "config", "physics", "meshes", "fem", "timeloop", "postprocess", "studies", "cli"},
    "api": {"leaf", "config", "physics", "meshes", "fem", "timeloop", "postprocess", "studies", "api"},
}
"""For each layer, the layers its modules may import."""


TOP = ROOT / "solver" / "_ecmx"
"""The top-level ``ecmx`` package (pyproject maps ``ecmx`` to ``solver/_ecmx``): the Python API, layer "api"."""


def modules() -> dict[str, Path]:
    """Every ecmx module name with its source file."""
    found = {}
    for package, directory in {**PACKAGES, "ecmx": TOP}.items():
        for path in directory.rglob("*.py"):
            if package != "ecmx" and TOP in path.parents:
                continue
            parts = path.relative_to(directory).with_suffix("").parts
            name = ".".join((package, *parts))
            found[name.removesuffix(".__init__")] = path
    return found


def layer(module: str) -> str:
    """The layer of an ecmx module name."""
    if module in LEAVES:
        return "leaf"
    if not module.startswith(tuple(PACKAGES)):
        return "api"
    if module.startswith(("ecmx.meshes", "ecmx.postprocess")):
        return module.split(".")[1]
    sub = module.split(".")[2]
    if sub == "materials":
        return "config"
    return sub if sub in ALLOWED else "cli" if sub == "cli" else sub


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The ecmx modules that ``module`` imports anywhere in its source (resolved to known modules)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.startswith("ecmx.") and name != module:
            found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_module_has_a_layer() -> None:
    assert {name: layer(name) for name in modules() if layer(name) not in ALLOWED} == {}


def test_no_upward_import_between_layers() -> None:
    upward = sorted(f"{a} ({layer(a)}) imports {b} ({layer(b)})"
                    for a, targets in graph().items() for b in targets if layer(b) not in ALLOWED[layer(a)])
    assert upward == []


def test_no_import_cycle() -> None:
    assert find_cycle(graph()) is None


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert "studies" not in ALLOWED[layer("ecmx.postprocess.report")]
    assert layer("ecmx.solver.studies.sweep") == "studies" and layer("ecmx.solver.config.case") == "config"


def test_only_the_compat_shim_names_the_wheel() -> None:
    """``dolfinx_solver`` is imported in one place, so another DOLFINx install needs one change at most."""
    naming = sorted(str(path.relative_to(ROOT)) for path in modules().values()
                    if "dolfinx_solver" in path.read_text(encoding="utf-8"))
    assert naming == ["solver/_compat.py"]


@pytest.mark.parametrize("module", ["ecmx.solver._compat", "ecmx.solver.config", "ecmx.solver.cli"])
def test_importable_without_the_wheel(module: str) -> None:
    """With ``dolfinx_solver`` absent (DOLFINx from conda-forge or a container) the shim steps aside."""
    code = ("import sys; sys.modules['dolfinx_solver'] = None\n"
            f"import {module}\n"
            "import ecmx.solver._compat as c\n"
            "assert c.HAS_DOLFINX_SOLVER_WHEEL is False\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
