"""Compare the fused Jacobian with DOLFINx's block-by-block assembly on the ranks it runs on; exit 0 when
they agree to round-off, print the relative difference, the number of ghost dofs of the electrolyte, the
longest row and column but the cell voltage's, the mallocs of the assembly, the stored entries of
DOLFINx's pattern and of ours (:mod:`ecmx.solver.fem.sparsity`) and 1 if ours are exactly the entries some
integral reaches and the diagonal on every rank (0 otherwise).

Used by test_fused_jacobian_mpi.py under ``mpiexec -n 2``: ``python mpi_fused_jacobian_run.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
import ecmx.solver._compat  # noqa: F401, I001  (prepares the DOLFINx import)
import dolfinx.fem.petsc
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
from support.problem_helpers import make_case, particle_in_box_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.fem.sparsity import _owned_entries, local_reached_entries


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
    mallocs = int(nl.A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["mallocs"])
    rows, columns = pattern_extent(nl.A, problem._newton._unknowns)
    reached = MPI.COMM_WORLD.allreduce(int(stores_reached_entries(nl, problem._newton)), op=MPI.MIN)
    blocked = dolfinx.fem.petsc.assemble_matrix(nl.J)
    blocked.assemble()
    stored = [int(m.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_used"]) for m in (blocked, nl.A)]
    scale = blocked.norm(PETSc.NormType.INFINITY)
    blocked.axpy(-1.0, nl.A)
    difference = blocked.norm(PETSc.NormType.INFINITY) / scale
    ghosts = MPI.COMM_WORLD.allreduce(problem.electrolyte.c.function_space.dofmap.index_map.num_ghosts)
    if MPI.COMM_WORLD.rank == 0:
        print(f"RESULT {difference:.3e} {ghosts} {MPI.COMM_WORLD.size} {rows} {columns} {mallocs} {stored[0]} {stored[1]} "
              f"{reached}", flush=True)


def stores_reached_entries(nl: dolfinx.fem.petsc.NonlinearProblem, newton: object) -> bool:
    """Whether the owned rows of the Jacobian store exactly the entries some integration entity of some rank
    reaches and the diagonal (:mod:`ecmx.solver.fem.sparsity`), the pattern the COO preallocation must give.
    Collective."""
    A = nl.A
    local = local_reached_entries(nl, newton._unknowns, newton._entity_maps)
    row_map, column_map = A.getLGMap()
    owned = _owned_entries(A, row_map.apply(local.rows().astype(PETSc.IntType)).astype(np.int64),
                           column_map.apply(local.indices.astype(PETSc.IntType)).astype(np.int64))
    indptr, indices, _ = A.getValuesCSR()
    return np.array_equal(indptr, owned.indptr) and np.array_equal(indices, owned.indices)


def pattern_extent(A: PETSc.Mat, unknowns: list) -> tuple[int, int]:
    """The most stored entries of a row and of a column over all ranks, without the cell voltage's (the
    last unknown, dense over Γ by the model; in parallel its row is the last of the ranks that own it, not
    of the matrix). Collective."""
    comm = MPI.COMM_WORLD
    indptr, columns, _ = A.getValuesCSR()
    start = A.getOwnershipRange()[0]
    sizes = [u.function_space.dofmap.index_map.size_local for u in unknowns]
    voltage = start + sum(sizes[:-1]) + np.arange(sizes[-1])
    rows = np.delete(np.diff(indptr), voltage - start)
    counts = comm.allreduce(np.bincount(columns, minlength=A.getSize()[1]), op=MPI.SUM)
    counts[np.concatenate(comm.allgather(voltage))] = 0
    return comm.allreduce(int(rows.max(initial=0)), op=MPI.MAX), int(counts.max())


if __name__ == "__main__":
    main()
