"""Run a sphere-1d discharge to a voltage cut-off and a rest with the error-controlled BDF2 and write
the accepted steps as JSON (rank 0): ``python mpi_steps_run.py OUT.json`` under mpiexec -n 1 / -n 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from support.problem_helpers import sphere_1d_mesh
from verification.test_time_integration import Trace, sphere_case

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.protocol import build_protocol
from ecmx.solver.timeloop.runner import ProtocolRunner
from ecmx.solver.timeloop.stepping import StepController


def main(out: str) -> None:
    comm = MPI.COMM_WORLD
    case = sphere_case([{"step": "discharge", "c_rate": 5.0, "until": {"voltage": 3.25}},
                        {"step": "rest", "duration": 60.0}])
    problem = CellProblem(sphere_1d_mesh(comm, elements=20), case)
    trace = Trace(problem)
    runner = ProtocolRunner(problem, build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2),
                            StepController.from_settings(case.solver.time_step), capacity_C=problem.capacity_C,
                            stoichiometry_window=case.material.stoichiometry_window, observer=trace,
                            integrator=BdfIntegrator.for_problem(problem, case.solver.rtol, case.solver.atol, comm))
    runner.run()
    steps = [{"time_s": r.time_s, "dt_s": r.dt_s, "order": r.order, "error_norm": r.error_norm,
              "voltage_V": r.quantities["voltage_V"]} for r in trace.records]
    mine = json.dumps([(s["time_s"], s["dt_s"]) for s in steps])
    assert len(set(comm.allgather(mine))) == 1, "ranks disagree on the steps"
    if comm.rank == 0:
        Path(out).write_text(json.dumps({"steps": steps, "tries": runner.tries}))


if __name__ == "__main__":
    main(sys.argv[1])
