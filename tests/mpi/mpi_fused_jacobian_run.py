"""Compare the fused Jacobian with DOLFINx's block-by-block assembly on the ranks it runs on; exit 0 when
they agree to round-off, print the relative difference and the number of ghost dofs of the electrolyte.

Used by test_fused_jacobian_mpi.py under ``mpiexec -n 2``: ``python mpi_fused_jacobian_run.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
import ecmx.solver._compat  # noqa: F401, I001  (prepares the DOLFINx import)
import dolfinx.fem.petsc
from mpi4py import MPI
from petsc4py import PETSc
from support.problem_helpers import make_case, particle_in_box_mesh

from ecmx.solver.fem.cell_problem import CellProblem


def main() -> None:
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4)
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    for _ in range(3):
        outcome = problem.try_step(5.0)
        assert outcome.converged, outcome.reason
        problem.accept()
    nl = problem._newton._problem
    nl.solver.computeJacobian(nl.x, nl.A, nl.A)
    blocked = dolfinx.fem.petsc.assemble_matrix(nl.J)
    blocked.assemble()
    scale = blocked.norm(PETSc.NormType.INFINITY)
    blocked.axpy(-1.0, nl.A)
    difference = blocked.norm(PETSc.NormType.INFINITY) / scale
    ghosts = MPI.COMM_WORLD.allreduce(problem.electrolyte.c.function_space.dofmap.index_map.num_ghosts)
    if MPI.COMM_WORLD.rank == 0:
        print(f"RESULT {difference:.3e} {ghosts} {MPI.COMM_WORLD.size}", flush=True)


if __name__ == "__main__":
    main()
