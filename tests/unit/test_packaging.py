"""Packaging: the wheel holds the ``ecmx`` API package, the example cases (``ecmx cases`` copies them
out of an installed wheel) and the MIT licence; pyproject names what the code imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_pyproject_maps_the_api_package_and_the_cases():
    setuptools = PYPROJECT["tool"]["setuptools"]
    assert {"ecmx", "ecmx.cases"} <= set(setuptools["packages"])
    assert setuptools["package-dir"]["ecmx"] == "solver/_ecmx" and setuptools["package-dir"]["ecmx.cases"] == "cases"
    assert "*.yaml" in setuptools["package-data"]["ecmx.cases"]
    for directory in set(setuptools["package-dir"].values()):
        assert (ROOT / directory).is_dir(), directory
    assert any(d.startswith("pandas") for d in PYPROJECT["project"]["dependencies"])


def test_license_is_the_mit_licence_pyproject_names():
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built (no isolation, no network) from a copy of the source tree."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for name in ("solver", "meshes", "postprocess", "cases"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                             str(source), "-w", str(out)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "No module named pip" in result.stderr:
        pytest.skip("pip is not installed in this environment")
    assert result.returncode == 0, result.stderr
    return next(out.glob("ecmx-*.whl"))


def test_wheel_holds_the_api_the_cases_and_the_licence(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ecmx/__init__.py", "ecmx/results.py", "ecmx/solver/cli.py", "ecmx/solver/materials/nvp.yaml"} <= names
    assert {f"ecmx/cases/{p.name}" for p in (ROOT / "cases").glob("*.yaml")} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "ecmx/solver/_ecmx/")) for n in names)


def test_cases_verb_copies_from_an_installed_wheel(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), COLUMNS="200")
    code = ("import ecmx, ecmx.solver.studies.examples as ex\n"
            "print(ecmx.__file__)\n"
            "print(ex.shipped_cases()[0])")
    where = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split())
    copied = subprocess.run([sys.executable, "-m", "ecmx.solver.cli", "cases", "examples"], capture_output=True, text=True,
                            env=env, cwd=tmp_path, timeout=120)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "examples" / "nvp-vs-hev.yaml").read_bytes() == (ROOT / "cases" / "nvp-vs-hev.yaml").read_bytes()
