"""Run a short fixed-step protocol of the coupled problem and write the quantities as JSON (rank 0).

Used by test_problem_mpi.py under ``mpiexec -n 1`` and ``-n 2``:
``python mpi_problem_run.py KIND CACHE_DIR OUT.json``; KIND ``manufactured:<kind>`` writes the
L² errors of the manufactured solution instead; KIND ``<kind>+<linear solver>`` sets ``solver.linear_solver``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from support.problem_helpers import make_case, run_constant_current

from ecmx.meshes import load_mesh
from ecmx.solver.fem.cell_problem import CellProblem


def manufactured(kind: str, cache: str, out: str) -> None:
    from verification.test_verification_manufactured import manufactured as errors_of

    errors = errors_of(kind, 0.25 if kind == "axisymmetric-2d" else 0.6, cache)
    mine = json.dumps(errors, sort_keys=True)
    assert len(set(MPI.COMM_WORLD.allgather(mine))) == 1, "errors differ between ranks"
    if MPI.COMM_WORLD.rank == 0:
        with open(out, "w") as fh:
            json.dump(errors, fh)


def main(kind: str, cache: str, out: str) -> None:
    if kind.startswith("manufactured:"):
        manufactured(kind.split(":", 1)[1], cache, out)
        return
    kind, _, linear_solver = kind.partition("+")  # KIND+SOLVER: that solver.linear_solver instead of auto
    mesh = {"elements": 40} if kind == "sphere-1d" else {"size": 0.6e-6, "interface_size": 0.3e-6}
    case = make_case(kind, material={"diffusivity": 1e-15}, theta0=0.4, solver={"linear_solver": linear_solver or "auto"})
    geo = case.geometry.model_copy(update={"mesh": case.geometry.mesh.model_copy(update=mesh)})
    problem = CellProblem(load_mesh(geo, MPI.COMM_WORLD, cache_dir=cache), case)
    history = run_constant_current(problem, -2.0 * problem.capacity_C / 3600.0, 10.0, 8)
    problem.set_control("voltage", history[-1]["voltage_V"] - 0.02)
    for _ in range(3):
        outcome = problem.try_step(10.0)
        assert outcome.converged, outcome.reason
        problem.accept()
        history.append(problem.quantities())
    probes = problem.probe(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.9], [0.0, 0.0, 2.0]]))
    # every rank must hold the same numbers
    mine = json.dumps([history[-1], {k: v.tolist() for k, v in probes.items()}], sort_keys=True)
    assert len(set(MPI.COMM_WORLD.allgather(mine))) == 1, "quantities differ between ranks"
    if MPI.COMM_WORLD.rank == 0:
        with open(out, "w") as fh:
            json.dump({"history": history, "probes": {k: v.tolist() for k, v in probes.items()}}, fh)


if __name__ == "__main__":
    main(*sys.argv[1:4])
