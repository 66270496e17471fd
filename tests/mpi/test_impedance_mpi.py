"""`ecmx impedance` on 1 and 2 MPI ranks: the same spectrum (|Z| to 1e-6, phase to 0.01°)."""

from __future__ import annotations

import cmath
import csv
import math
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
        assert b["frequency_Hz"] == a["frequency_Hz"]
        # the spectrum in the measures, |Z| and phase: 1 and 2 ranks agree far below their accuracy
        # (0.5 %, 0.5°). The real 2×2 system is ill-conditioned where ω t₀ is large (t₀ = R²/D = 1000 s here,
        # ω t₀ = 6e8 at 100 kHz): the small imaginary part there carries the factorisation's round-off
        # (axisymmetric-2d, 100 kHz, where Im is 0.26 % of Re: Re equal to 5e-7, Im to 13 %, i.e. 0.02° of phase,
        # with the particle and electrolyte cells partitioned separately; 1e-7, 3 % and 0.004° with one partition
        # of the whole mesh: the round-off follows the partition). Bounds 1e-6 and 0.05°, 10x below the accuracy.
        for unit in ("Ohm", "Ohm_m2"):
            z1 = complex(a[f"Z_real_{unit}"], a[f"Z_imag_{unit}"])
            z2 = complex(b[f"Z_real_{unit}"], b[f"Z_imag_{unit}"])
            assert abs(abs(z2) - abs(z1)) <= 1e-6 * abs(z1), (unit, z1, z2)
            assert abs(math.degrees(cmath.phase(z2) - cmath.phase(z1))) <= 0.05, (unit, z1, z2)
