"""The projection initial guess of repeated solves with one matrix (ecmx.solver.fem.solution_projection)."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import pytest
from petsc4py import PETSc

from ecmx.solver.fem.solution_projection import SolutionProjection

N = 40


def laplacian() -> PETSc.Mat:
    """The 1D Dirichlet Laplacian (SPD), serial."""
    A = PETSc.Mat().createAIJ([N, N], nnz=3, comm=PETSc.COMM_SELF)
    for i in range(N):
        A.setValue(i, i, 2.0)
        if i:
            A.setValue(i, i - 1, -1.0)
            A.setValue(i - 1, i, -1.0)
    A.assemble()
    return A


def vec(values: np.ndarray) -> PETSc.Vec:
    return PETSc.Vec().createWithArray(np.array(values, dtype=float), comm=PETSc.COMM_SELF)


def exact(A: PETSc.Mat, b: PETSc.Vec) -> np.ndarray:
    dense = A.convert("dense").getDenseArray()
    return np.linalg.solve(dense, b.array)


@pytest.fixture
def loads():
    """b(t) = b0 + t b1 + t² b2: its solutions span a 3-dimensional space."""
    rng = np.random.default_rng(3)
    b0, b1, b2 = rng.standard_normal((3, N))
    return lambda t: vec(b0 + t * b1 + t * t * b2)


def energy(dense: np.ndarray, e: np.ndarray) -> float:
    """eᵀ A e."""
    return float(e @ dense @ e)


def stored(A: PETSc.Mat, loads, times, depth: int) -> SolutionProjection:
    projection = SolutionProjection(A, depth)
    for t in times:
        projection.add(vec(exact(A, loads(t))))
    return projection


def test_quadratic_loads_are_guessed_exactly_from_three_solutions(loads):
    """With the last three solutions stored the guess for a quadratic load is the solution; the
    previous solution alone (depth 1) is far from it, and the guess is at least as good in the
    energy norm (the Galerkin projection)."""
    A = laplacian()
    b = loads(3.5)
    x_star = exact(A, b)
    for depth, bound in ((3, 1e-10), (1, None)):
        x = vec(np.zeros(N))
        stored(A, loads, (0.0, 1.0, 2.0, 3.0), depth).guess(b, x)
        error = np.linalg.norm(x.array - x_star) / np.linalg.norm(x_star)
        if bound is not None:
            assert error < bound
        else:
            previous = exact(A, loads(3.0))
            dense = A.convert("dense").getDenseArray()
            assert error > 1e-2
            assert energy(dense, x.array - x_star) <= energy(dense, previous - x_star) * (1 + 1e-12)


def test_depth_keeps_the_newest_solutions(loads):
    """Of more solutions than ``depth`` the oldest drop out: the last three of a quadratic still span it."""
    A = laplacian()
    b = loads(7.0)
    x = vec(np.zeros(N))
    stored(A, loads, (-40.0, 1e3, 4.0, 5.0, 6.0), 3).guess(b, x)
    assert np.allclose(x.array, exact(A, b), rtol=0, atol=1e-9 * np.abs(exact(A, b)).max())


def test_collinear_solutions_and_no_solution(loads):
    """Repeated (collinear) solutions give a finite guess, exact for a load in their span; with none
    stored the vector is left as it is."""
    A = laplacian()
    b = loads(1.0)
    x = vec(np.full(N, 7.0))
    SolutionProjection(A).guess(b, x)
    assert np.all(x.array == 7.0)
    projection = stored(A, loads, (1.0, 1.0, 1.0), 4)
    b2 = vec(2.0 * b.array)
    projection.guess(b2, x)
    assert np.allclose(x.array, 2.0 * exact(A, b), rtol=1e-10, atol=0)
    with pytest.raises(ValueError, match="depth"):
        SolutionProjection(A, 0)


def test_a_full_store_reuses_the_vectors_of_the_pair_it_drops(loads):
    """Past ``depth`` no vector is created: the dropped pair's two vectors take the new solution and its image
    (on several ranks a dropped parallel vector is not destroyed but left in PETSc's garbage), and the guesses are
    those of the newest solutions."""
    A = laplacian()
    projection = stored(A, loads, (0.0, 0.1), depth=2)
    handles = {v.handle for pair in projection._pairs for v in pair}
    for t in (0.2, 0.3, 0.4):
        projection.add(vec(exact(A, loads(t))))
    assert {v.handle for pair in projection._pairs for v in pair} == handles
    x = vec(np.zeros(N))
    projection.guess(loads(0.5), x)
    newest = stored(A, loads, (0.3, 0.4), depth=2)
    y = vec(np.zeros(N))
    newest.guess(loads(0.5), y)
    assert np.allclose(x.array, y.array, rtol=1e-12, atol=1e-12)
    for u, image in projection._pairs:  # each image is K of its solution
        expected = A.createVecLeft()
        A.mult(u, expected)
        assert np.allclose(image.array, expected.array, rtol=1e-13, atol=1e-13)
