"""A short phase-field run (seeded perturbation, then a 2C discharge through nucleation) writing its
quantities as JSON (rank 0). Used by test_phase_field_mpi.py under ``mpiexec -n 1`` and ``-n 2``:
``python mpi_phase_field_run.py OUT.json [WETTING]``, WETTING the surface wetting as a fraction of the
complete-wetting threshold w_c (default 0, neutral).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from support.problem_helpers import make_case, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.physics.phase_field import complete_wetting_threshold
from ecmx.solver.units import R_GAS

KEYS = ("voltage_V", "theta_mean", "c_min", "c_max", "c_surface_mean", "free_energy_J")


def main(out: str, wetting: float = 0.0) -> None:
    rt = R_GAS * 298.15
    pf = {"interaction_energy": 4.05 * rt, "gradient_energy": (0.04e-6) ** 2 * 13831 * 4.05 * rt,
          "reference_voltage": 3.4, "initial_perturbation": {"amplitude": 0.01, "seed": 7}}
    pf["surface_wetting"] = wetting * complete_wetting_threshold(pf["gradient_energy"], 13831, 4.05 * rt, rt)
    case = make_case("sphere-1d", material={"open_circuit_voltage": None, "diffusivity": 1e-14, "phase_field": pf},
                     theta0=0.1)
    problem = CellProblem(sphere_1d_mesh(MPI.COMM_WORLD, elements=100), case)
    problem.set_initial_state()
    history = [problem.quantities()]
    problem.set_control("current", -2.0 * problem.capacity_C / 3600.0)
    for _ in range(12):
        outcome = problem.try_step(15.0)
        assert outcome.converged, outcome.reason
        problem.accept()
        history.append(problem.quantities())
    if MPI.COMM_WORLD.rank == 0:
        with open(out, "w") as fh:
            json.dump([{k: q[k] for k in KEYS} for q in history], fh)


if __name__ == "__main__":
    main(sys.argv[1], *(float(a) for a in sys.argv[2:3]))
