"""The vertex-averaged stress of :mod:`ecmx.solver.fem.stress_recovery` as sparse products (issue 14).

For a stress affine in its changing coefficients (the displacement and, for the linear chemical-strain
laws, the concentration), the P1 tensor that :class:`~ecmx.solver.fem.stress_recovery.StressRecovery`
averages from the cell values is

    σ_P1 = Σ_f G_f f + s₀,   G_f = A D_f,

with D_f the derivative of the cell values at the DG(k−1) nodes in the coefficient f (one
``fem.Expression`` with an argument, evaluated once), A the vertex averaging and s₀ the rest, taken from
one ordinary recovery. One sparse product per coefficient then replaces the evaluation of the expression
and the averaging at every solve: on the fine comparison's particle (96 777 P2 DOFs, 10k cells, 4 696
vertices) ~35-66 ms per accepted step. The tensor agrees with the expression path to round-off. Serial
(the rows of a vertex on a process boundary would need the other rank's cells).
"""

from __future__ import annotations

from collections.abc import Sequence

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import scipy.sparse
import ufl
from dolfinx import fem
from ufl.algorithms import expand_derivatives, extract_coefficients


class AveragedStressOperator:
    """σ_P1 = Σ_f G_f f + s₀ for the stress ``sigma`` (see the module docstring). Serial.

    Args:
        sigma: the stress (UFL, 3×3), affine in each of ``coefficients``.
        coefficients: the Functions that change between solves.
        space: the DG(k−1) tensor space the stress is evaluated on.
        p1_cell_dofs, node_of_vertex: for every (owned cell, cell vertex) in cell order, the P1 dof and the
            DG node whose value goes to it.
        count: the number of cells around each P1 dof.
        current: the present averaged tensor (P1 dofs × 9), for s₀.

    Raises:
        ValueError: a stress that is not affine in a coefficient.
    """

    def __init__(self, sigma: ufl.core.expr.Expr, coefficients: Sequence[fem.Function], space: fem.FunctionSpace,
                 p1_cell_dofs: np.ndarray, node_of_vertex: np.ndarray, count: np.ndarray, current: np.ndarray):
        self._coefficients = list(coefficients)
        weights = 1.0 / count[p1_cell_dofs]
        self._operators = [self._operator(sigma, f, space, p1_cell_dofs, node_of_vertex, weights, count.size)
                           for f in self._coefficients]
        self._offset = current.ravel() - self._products()

    def _products(self) -> np.ndarray:
        return sum(G @ f.x.array for G, f in zip(self._operators, self._coefficients, strict=True))

    def apply(self, out: np.ndarray) -> None:
        """out (P1 dofs × 9, flat) ← the averaged tensor at the present coefficients."""
        out[:] = self._products() + self._offset

    @staticmethod
    def _operator(sigma: ufl.core.expr.Expr, f: fem.Function, space: fem.FunctionSpace, p1_cell_dofs: np.ndarray,
                  node_of_vertex: np.ndarray, weights: np.ndarray, n_p1: int) -> scipy.sparse.csr_matrix:
        """G_f = A D_f: the averaging A (9 P1 dofs × cell values) of the cell values' derivative D_f in f
        (cell values × f's dofs, dense per cell), one sparse product."""
        V = f.function_space
        derivative = expand_derivatives(ufl.derivative(sigma, f, ufl.TrialFunction(V)))
        if f in extract_coefficients(derivative):
            raise ValueError(f"the stress is not affine in {f.name}")
        msh, bs = space.mesh, V.dofmap.index_map_bs
        cells = np.arange(msh.topology.index_map(msh.topology.dim).size_local, dtype=np.int32)
        values = fem.Expression(derivative, space.element.interpolation_points).eval(msh, cells)
        n_nodes = values.shape[1]
        values = values.reshape(len(cells) * n_nodes * 9, -1)  # rows (cell, node, component), argument dofs
        nd = values.shape[1]
        columns = np.repeat((V.dofmap.list[cells][:, :, None] * bs + np.arange(bs)).reshape(len(cells), 1, nd),
                            n_nodes * 9, axis=1)
        D = scipy.sparse.csr_matrix((values.ravel(), columns.ravel(), np.arange(0, values.size + 1, nd)),
                                    shape=(values.shape[0], f.x.array.size))
        per_cell = p1_cell_dofs.size // max(len(cells), 1)
        cell = np.repeat(cells.astype(np.int64), per_cell)
        rows = (p1_cell_dofs[:, None] * 9 + np.arange(9)).ravel()
        sources = (((cell * n_nodes + node_of_vertex) * 9)[:, None] + np.arange(9)).ravel()
        A = scipy.sparse.csr_matrix((np.repeat(weights, 9), (rows, sources)), shape=(9 * n_p1, D.shape[0]))
        return (A @ D).tocsr()
