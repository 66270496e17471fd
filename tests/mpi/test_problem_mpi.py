"""The same voltage curve on 1 and 2 MPI ranks (relative difference ≤ 1e-8), and the same
manufactured-solution errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).parent


def _run(ranks: int, kind: str, cache: Path, out: Path) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, str(HERE / "mpi_problem_run.py"), kind, str(cache), str(out)]
    result = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sphere-1d", "axisymmetric-2d", "particle-in-electrolyte", "agglomerate",
                                  "particle-in-electrolyte+gmres-lu", "particle-in-electrolyte+fieldsplit"])
def test_voltage_curve_independent_of_ranks(kind, tmp_path):
    cache = tmp_path / "meshes"
    one = _run(1, kind, cache, tmp_path / "one.json")
    two = _run(2, kind, cache, tmp_path / "two.json")
    assert len(one["history"]) == len(two["history"]) == 12
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["voltage_V"] == pytest.approx(a["voltage_V"], rel=1e-8)
        assert b["na_total_mol"] == pytest.approx(a["na_total_mol"], rel=1e-8, abs=0)
        assert b["c_surface_mean"] == pytest.approx(a["c_surface_mean"], rel=1e-8)
        assert b["interface_current_A"] == pytest.approx(a["interface_current_A"], rel=1e-8, abs=1e-20)
    for name, values in one["probes"].items():
        for x, y in zip(values, two["probes"][name], strict=True):
            assert (math.isnan(x) and math.isnan(y)) or y == pytest.approx(x, rel=1e-8)


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["axisymmetric-2d", "particle-in-electrolyte"])
def test_manufactured_solution_errors_independent_of_ranks(kind, tmp_path):
    cache = tmp_path / "meshes"
    one = _run(1, f"manufactured:{kind}", cache, tmp_path / "one.json")
    two = _run(2, f"manufactured:{kind}", cache, tmp_path / "two.json")
    for name, error in one.items():
        assert two[name] == pytest.approx(error, rel=1e-6, abs=1e-12), name
