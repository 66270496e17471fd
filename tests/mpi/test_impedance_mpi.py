"""`ecmx impedance` on 1 and 2 MPI ranks: the same spectrum (relative difference ≤ 1e-8)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec


def _spectrum(ranks: int, case_dir: Path, kind: str, out: str) -> list[dict[str, float]]:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "ecmx.solver.cli", "impedance", "case.yaml",
           "--points", "5", "--frequencies", "1e-3:1e5", "--out", out, "--set", f"geometry.kind={kind}",
           "--set", "material.double_layer_capacitance=0.2 F/m^2"]
    result = subprocess.run(cmd, cwd=case_dir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(case_dir / out / "impedance.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sphere-1d", "axisymmetric-2d"])
def test_spectrum_independent_of_ranks(case_dir, kind):
    one = _spectrum(1, case_dir, kind, "one")
    two = _spectrum(2, case_dir, kind, "two")
    assert len(one) == len(two) == 5
    for a, b in zip(one, two, strict=True):
        for key, value in a.items():
            assert b[key] == pytest.approx(value, rel=1e-8), key
