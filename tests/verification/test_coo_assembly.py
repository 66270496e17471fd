"""The Jacobian goes into PETSc through the COO interface (:mod:`ecmx.solver.fem.coo_assembly`): every value of
every part lands on its (row, column), values of one entry are summed, dropped values (−1, unreached) go nowhere,
and the stored pattern of the 3D coupled Jacobian is exactly the reached entries and the diagonal
(:mod:`ecmx.solver.fem.sparsity`), with the values of DOLFINx's block-by-block assembly. Two ranks:
tests/mpi/test_fused_jacobian_mpi.py."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

from types import SimpleNamespace

import dolfinx.fem.petsc
import numpy as np
from mpi4py import MPI
from petsc4py import PETSc
from support.problem_helpers import make_case, particle_in_box_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.fem.coo_assembly import CooAssembly
from ecmx.solver.fem.sparsity import Pattern, local_reached_entries


def _part(rows: list[int], columns: list[int]) -> SimpleNamespace:
    """A stand-in part: its CSR matrix's values and A's (row, column) of each."""
    return SimpleNamespace(entries=lambda: (np.array(rows), np.array(columns)),
                           matrix=SimpleNamespace(data=np.zeros(len(rows))))


def test_values_summed_placed_and_dropped():
    A = PETSc.Mat().createAIJ((4, 4), comm=MPI.COMM_SELF)
    identity = PETSc.LGMap().create(np.arange(4, dtype=PETSc.IntType), comm=MPI.COMM_SELF)
    A.setLGMap(identity, identity)
    first, second = _part([0, 1, 1, -1], [2, 0, 0, 3]), _part([3, 2, 0], [3, 1, -1])
    reached = Pattern(np.array([0, 1, 2, 2, 3]), np.array([2, 0, 3]))  # not (2, 1)
    coo = CooAssembly([first, second])
    coo.preallocate(A, reached)
    for values in ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0]), ([-1.0, 0.5, 0.25, 9.0], [2.0, 8.0, 1.0]):
        first.matrix.data[:], second.matrix.data[:] = values
        coo.set_values(A)
        expected = np.zeros((4, 4))
        expected[0, 2] = values[0][0]
        expected[1, 0] = values[0][1] + values[0][2]  # one entry, two values
        expected[3, 3] = values[1][0]  # (2, 1) is not reached; −1 rows and columns go nowhere
        assert np.array_equal(A.convert("dense", PETSc.Mat()).getDenseArray(), expected)
    indptr, indices, _ = A.getValuesCSR()
    stored = {(r, int(c)) for r in range(4) for c in indices[indptr[r]:indptr[r + 1]]}
    assert stored == {(0, 2), (1, 0), (3, 3), (0, 0), (1, 1), (2, 2)}  # the reached values and the diagonal


def test_coupled_3d_pattern_is_the_reached_entries_with_blocked_values():
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4),
                          make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4))
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    assert problem.try_step(5.0).converged
    newton = problem._newton
    nl = newton._problem
    nl.A.zeroEntries()
    nl.solver.computeJacobian(nl.x, nl.A, nl.A)
    reached = local_reached_entries(nl, newton._unknowns, newton._entity_maps)
    row_map, _ = nl.A.getLGMap()
    rows = row_map.apply(reached.rows().astype(PETSc.IntType))
    columns = row_map.apply(reached.indices.astype(PETSc.IntType))
    n = nl.A.getSize()[0]
    expected = np.union1d(rows.astype(np.int64) * n + columns, np.arange(n) * (n + 1))
    indptr, indices, values = nl.A.getValuesCSR()
    stored = np.repeat(np.arange(n), np.diff(indptr)) * n + indices
    assert np.array_equal(stored, expected)
    blocked = dolfinx.fem.petsc.assemble_matrix(nl.J)
    blocked.assemble()
    dense = blocked.convert("dense").getDenseArray().ravel()  # row by row
    assert np.abs(dense[stored] - values).max() <= 1e-13 * np.abs(dense).max()
    dense[stored] = 0.0
    assert not dense.any()  # every nonzero of the blocked assembly is stored
    assert np.count_nonzero(values) > 0.9 * values.size
    # the MUMPS fallback's SNES: its own matrix, preallocated by the same parts (their targets worked out again)
    direct = newton._build("mumps")
    direct.solver.computeJacobian(nl.x, direct.A, direct.A)
    again = direct.A.getValuesCSR()
    assert np.array_equal(again[0], indptr) and np.array_equal(again[1], indices)
    assert np.array_equal(again[2], values)
