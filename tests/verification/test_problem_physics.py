"""Unit tests of the UFL laws: tables (linear and log-linear, clamped like numpy.interp) and the
Butler–Volmer expressions, evaluated pointwise through dolfinx Expressions."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import math

import dolfinx
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.physics import kinetics
from ecmx.solver.physics.tables import piecewise_linear


@pytest.fixture(scope="module")
def line():
    """A P1 function x on [-0.2, 1.2] to evaluate expressions of one variable at its nodes."""
    msh = dolfinx.mesh.create_interval(MPI.COMM_SELF, 140, [-0.2, 1.2])
    V = fem.functionspace(msh, ("Lagrange", 1))
    x = fem.Function(V)
    x.interpolate(lambda p: p[0])
    return V, x


def evaluate(V, expr) -> np.ndarray:
    f = fem.Function(V)
    f.interpolate(fem.Expression(expr, V.element.interpolation_points))
    return f.x.array.copy()


def test_piecewise_linear_matches_numpy_interp(line):
    V, x = line
    xs, ys = [0.0, 0.25, 0.26, 0.5, 0.9, 1.0], [4.8, 3.8, 3.5, 3.4, 3.2, 1.0]
    got = evaluate(V, piecewise_linear(x, xs, ys))
    assert got == pytest.approx(np.interp(x.x.array, xs, ys), abs=1e-12)


def test_slope_at_a_knot_is_the_right_hand_slope(line):
    V, x = line
    xs, ys = [0.0, 0.5, 1.0], [0.0, 1.0, 4.0]
    xv = ufl.variable(x)
    slope = evaluate(V, ufl.diff(piecewise_linear(xv, xs, ys), xv))
    nodes = x.x.array
    assert slope[np.isclose(nodes, 0.5)] == pytest.approx(6.0)  # right of the knot: (4 − 1)/0.5
    assert slope[np.isclose(nodes, 0.25)] == pytest.approx(2.0)
    assert slope[nodes > 1.0] == pytest.approx(0.0)


def test_table_rejects_bad_abscissae(line):
    _, x = line
    with pytest.raises(ValueError):
        piecewise_linear(x, [0.0, 0.0, 1.0], [1.0, 2.0, 3.0])


def test_exchange_current_and_butler_volmer(line):
    V, x = line

    def function(values) -> fem.Function:
        f = fem.Function(V)
        f.x.array[:] = values
        return f

    th = np.clip(x.x.array, 0.01, 0.99)
    law = kinetics.ButlerVolmer(exchange_current=2.0, alpha_a=0.5, alpha_c=0.5)
    i0 = evaluate(V, law.exchange_current_density(function(0.5), function(1.0)))
    assert i0 == pytest.approx(2.0)  # the reference state θ = 0.5, c = c_ref
    unit = kinetics.ButlerVolmer(exchange_current=1.0, alpha_a=0.5, alpha_c=0.5)
    i0 = evaluate(V, unit.exchange_current_density(function(th), function(0.5)))
    assert i0 == pytest.approx(np.sqrt(0.5) * np.sqrt((1 - th) / 0.5) * np.sqrt(th / 0.5))
    i = evaluate(V, law.current_density(function(0.5), function(1.0), function(4 * x.x.array)))
    assert i == pytest.approx(4.0 * np.sinh(2 * x.x.array))
    # Na metal: zero current at the Nernst potential of the salt concentration
    c_rel = 0.6
    metal = kinetics.NaMetalButlerVolmer(exchange_current=10.0, alpha_a=0.5, alpha_c=0.5)
    eta_rest = -metal.rest_potential(c_rel)
    assert eta_rest == pytest.approx(math.log(c_rel))
    i_a = evaluate(V, metal.current_density(function(eta_rest), function(c_rel)))
    assert i_a == pytest.approx(0.0, abs=1e-12)


def test_kinetics_laws_take_keywords_only():
    """The fields of a law cannot be swapped by position."""
    with pytest.raises(TypeError):
        kinetics.ButlerVolmer(1.0, 0.5, 0.5)  # type: ignore[misc]
    law = kinetics.ButlerVolmer(exchange_current=2.0, alpha_a=0.3, alpha_c=0.7)
    scaled = kinetics.ButlerVolmer(exchange_current=20.0, alpha_a=3.0, alpha_c=7.0)
    assert law.with_coefficients(lambda v: 10 * v) == scaled
