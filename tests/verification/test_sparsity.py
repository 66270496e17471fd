"""The Jacobian of the coupled cell problem stores only the entries some integral reaches
(:mod:`ecmx.solver.fem.sparsity`): no dense row or column but the cell voltage's, and the same values as
DOLFINx's block-by-block assembly into its own (denser) pattern."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
from support.problem_helpers import make_case, particle_in_box_mesh

from ecmx.solver.fem.cell_problem import CellProblem


def test_no_dense_rows_but_the_voltage_and_same_values():
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4),
                          make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4))
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    assert problem.try_step(5.0).converged
    nl = problem._newton._problem
    nl.solver.computeJacobian(nl.x, nl.A, nl.A)
    assert nl.A.getInfo()["mallocs"] == 0  # the pattern holds every entry the assembly adds
    indptr, columns, values = nl.A.getValuesCSR()
    row_lengths = np.diff(indptr)[:-1]  # the last row is the cell voltage's: dense over Γ by the model
    column_lengths = np.bincount(columns, minlength=indptr.size - 1)[:-1]
    assert row_lengths.max() < 150 and column_lengths.max() < 150  # DOLFINx's pattern: 2 rows > 480, 3 columns > 290
    reference = dolfinx.fem.petsc.assemble_matrix(nl.J)
    reference.assemble()
    assert reference.getInfo()["nz_used"] > 1.05 * indptr[-1]
    dense, ours = reference.convert("dense").getDenseArray(), nl.A.convert("dense").getDenseArray()
    assert np.abs(dense - ours).max() <= 1e-13 * np.abs(dense).max()
