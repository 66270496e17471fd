"""MPI invariance of the particle mechanics: the same peak stresses on 1 and 2 ranks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

SCRIPT = r"""
import json, sys
import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)
# isort: split
sys.path.insert(0, {tests!r})
import numpy as np
from mpi4py import MPI
from verification.test_mechanics import C0, MechanicsProblem, ball, concentration, half_disk, interval, nvp_material, prescribe, random_orientations, _lattice

out = {{}}
for name, make, system, material, kw in [
    ("ball", lambda: ball(0.2), "cartesian", nvp_material(), {{}}),
    ("ball_lattice", lambda: ball(0.3), "cartesian", nvp_material(**_lattice(-0.02, 0.05)),
     {{"orientation": random_orientations(1, seed=1)}}),
    ("sphere_1d", lambda: interval(40), "spherical", nvp_material(), {{}}),
    ("axisymmetric", lambda: half_disk(0.1), "axisymmetric", nvp_material(), {{}}),
]:
    msh = make()
    c = concentration(msh)
    prescribe(c, 0.108)
    problem = MechanicsProblem(msh, system, material, c, C0, **kw)
    problem.solve()
    q = problem.quantities()
    point = [0.5, 0.3, 0.0] if system == "axisymmetric" else [0.7, 0.0, 0.0]
    q["probe_von_mises"] = float(problem.probe(np.array([point]))["von_mises"][0])
    q["ranks"] = MPI.COMM_WORLD.size
    out[name] = q
if MPI.COMM_WORLD.rank == 0:
    print("RESULT " + json.dumps(out))
"""

KEYS = ("von_mises_max", "max_principal_max", "hydrostatic_min", "hydrostatic_max", "tangential_stress_min",
        "surface_von_mises_mean", "strain_energy", "probe_von_mises")


def _run(ranks: int, tmp_path: Path) -> dict:
    script = tmp_path / "mechanics_mpi.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parents[1])))
    proc = subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, str(script)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(s for s in proc.stdout.splitlines() if s.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.mark.mpi
def test_same_peak_stresses_on_one_and_two_ranks(tmp_path):
    serial = _run(1, tmp_path)
    parallel = _run(2, tmp_path)
    for case in serial:
        assert parallel[case]["ranks"] == 2
        for key in KEYS:
            a, b = serial[case][key], parallel[case][key]
            assert b == pytest.approx(a, rel=1e-7, abs=1e-9 * abs(serial[case]["von_mises_max"])), (case, key, a, b)
