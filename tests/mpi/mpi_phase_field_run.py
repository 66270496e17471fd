"""A short phase-field run (seeded perturbation, then a 2C discharge through nucleation) writing its
quantities as JSON (rank 0). Used by test_phase_field_mpi.py under ``mpiexec -n 1`` and ``-n 2``:
``python mpi_phase_field_run.py OUT.json [profile]``; with ``profile`` the run starts from a core–shell
``initial.profile`` (θ = 0.1 core, 0.85 shell, a tanh front at 0.6 R) instead of the perturbed uniform state, and
charges at 2C; with ``wetting`` the perturbed run has surface wetting 1.1 w_c (the complete-wetting threshold).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from support.problem_helpers import make_case, sphere_1d_mesh

from ecmx.solver.config.case import case_from_dict
from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.physics.phase_field import complete_wetting_threshold
from ecmx.solver.units import R_GAS

KEYS = ("voltage_V", "theta_mean", "c_min", "c_max", "c_surface_mean", "free_energy_J")


def profile_case(case: object) -> object:
    """``case`` started from a core–shell radial profile (no perturbation)."""
    data = case.to_dict()
    data["material"]["phase_field"].pop("initial_perturbation")
    r = [i / 50 * 1e-6 for i in range(51)]
    theta = [0.1 + 0.75 / (1.0 + math.exp(-(x - 0.6e-6) / 0.04e-6)) for x in r]
    data["initial"] = {"profile": {"radius": r, "stoichiometry": theta}}
    return case_from_dict(data)


def main(out: str, variant: str = "perturbed") -> None:
    rt = R_GAS * 298.15
    pf = {"interaction_energy": 4.05 * rt, "gradient_energy": (0.04e-6) ** 2 * 13831 * 4.05 * rt,
          "reference_voltage": 3.4, "initial_perturbation": {"amplitude": 0.01, "seed": 7}}
    if variant == "wetting":
        pf["surface_wetting"] = 1.1 * complete_wetting_threshold(pf["gradient_energy"], 13831, 4.05 * rt, rt)
    case = make_case("sphere-1d", material={"open_circuit_voltage": None, "diffusivity": 1e-14, "phase_field": pf},
                     theta0=0.1)
    case = profile_case(case) if variant == "profile" else case
    problem = CellProblem(sphere_1d_mesh(MPI.COMM_WORLD, elements=100), case)
    problem.set_initial_state()
    history = [problem.quantities()]
    sign = 1.0 if variant == "profile" else -1.0  # charge the Na-rich shell, discharge the Na-poor particle
    problem.set_control("current", sign * 2.0 * problem.capacity_C / 3600.0)
    # the given front first relaxes to its equilibrium shape (fast): 12 steps from 0.01 s to 1 s
    steps = [0.01 * 100 ** (i / 11) for i in range(12)] if variant == "profile" else [15.0] * 12
    for dt in steps:
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        problem.accept()
        history.append(problem.quantities())
    if MPI.COMM_WORLD.rank == 0:
        with open(out, "w") as fh:
            json.dump([{k: q[k] for k in KEYS} for q in history], fh)


if __name__ == "__main__":
    main(*sys.argv[1:3])
