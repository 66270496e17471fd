"""PointEvaluator: one collective point evaluation for scalar and vector functions (NaN outside)."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.fem.probes import PointEvaluator


def test_point_evaluator_scalar_and_vector():
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    scalar = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    scalar.interpolate(lambda x: 1.0 + 2.0 * x[0] - x[1])
    vector = fem.Function(fem.functionspace(msh, ("Lagrange", 1, (2,))))
    vector.interpolate(lambda x: np.vstack([x[0], 3.0 * x[1]]))
    points = np.array([[0.25, 0.5], [1.0, 1.0], [0.1, 0.9], [2.0, 0.5]])  # the last one outside
    out = PointEvaluator(msh).evaluate({"s": scalar, "v": vector}, points)
    assert out["s"].shape == (4,) and out["v"].shape == (4, 2)
    inside = points[:3]
    np.testing.assert_allclose(out["s"][:3], 1.0 + 2.0 * inside[:, 0] - inside[:, 1], rtol=1e-12)
    np.testing.assert_allclose(out["v"][:3], np.column_stack([inside[:, 0], 3.0 * inside[:, 1]]), rtol=1e-12)
    assert np.isnan(out["s"][3]) and np.all(np.isnan(out["v"][3]))


def test_point_evaluator_snaps_points_within_a_cell_of_the_mesh():
    """snap=True: a point outside the mesh but within a quarter of a cell diameter (0.354/4 here) takes
    the value at the nearest point of the mesh; farther points (half a cell off, or far away) stay NaN;
    points inside are unchanged."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    scalar = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    scalar.interpolate(lambda x: 1.0 + 2.0 * x[0] - x[1])
    points = np.array([[0.25, 0.5], [1.05, 0.4], [-0.03, -0.06], [1.15, 0.5], [2.0, 0.5]])
    plain = PointEvaluator(msh).evaluate({"s": scalar}, points)["s"]
    assert np.all(np.isnan(plain[1:]))
    snapped = PointEvaluator(msh, snap=True).evaluate({"s": scalar}, points)["s"]
    nearest = np.array([[0.25, 0.5], [1.0, 0.4], [0.0, 0.0]])
    np.testing.assert_allclose(snapped[:3], 1.0 + 2.0 * nearest[:, 0] - nearest[:, 1], rtol=1e-12)
    assert np.all(np.isnan(snapped[3:]))


def test_points_are_located_once(monkeypatch):
    """Probes are evaluated every step at the same points: the cells are searched for once."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 4, 4)
    scalar = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    scalar.interpolate(lambda x: x[0])
    evaluator, calls = PointEvaluator(msh), []
    real = dolfinx.geometry.compute_colliding_cells
    monkeypatch.setattr(dolfinx.geometry, "compute_colliding_cells", lambda *a: calls.append(1) or real(*a))
    points = np.array([[0.25, 0.5], [0.75, 0.1]])
    for k in range(3):
        scalar.x.array[:] *= 2.0
        np.testing.assert_allclose(evaluator.evaluate({"s": scalar}, points)["s"], 2.0 ** (k + 1) * points[:, 0])
    assert len(calls) == 1
    np.testing.assert_allclose(evaluator.evaluate({"s": scalar}, points[::-1])["s"], 8.0 * points[::-1, 0])
    assert len(calls) == 2  # other points: located again
