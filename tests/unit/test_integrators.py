"""The scheme-independent part of the BDF integrator (ecmx.solver.timeloop.integrators)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from ecmx.solver.timeloop.integrators import (
    BdfIntegrator,
    bdf_weights,
    crosses_knot,
    crossing,
    dense_output,
    error_constant,
)


def test_bdf_weights_and_milne_constants():
    assert bdf_weights([1.0, 0.0]) == pytest.approx((1.0, -1.0, 0.0))  # backward Euler
    assert bdf_weights([1.0, 0.0, -1.0]) == pytest.approx((1.5, -2.0, 0.5))  # BDF2, equal steps
    omega, dt = 2.0, 1.0  # variable step: a0 = (1+2ω)/((1+ω)dt), a1 = −(1+ω)/dt, a2 = ω²/((1+ω)dt)
    assert bdf_weights([1.0, 0.0, -0.5]) == pytest.approx(
        ((1 + 2 * omega) / (1 + omega) / dt, -(1 + omega) / dt, omega**2 / (1 + omega) / dt))
    assert error_constant(1.0, [0.0, -1.0], 1) == pytest.approx(1 / 3)
    assert error_constant(1.0, [0.0, -1.0, -2.0], 2) == pytest.approx(2 / 11)


def test_bdf2_weights_differentiate_quadratics_exactly():
    times = [2.3, 1.6, 0.4]
    a = bdf_weights(times)
    for poly in (np.poly1d([1.0]), np.poly1d([3.0, -1.0]), np.poly1d([0.7, 2.0, -5.0])):
        assert sum(w * poly(t) for w, t in zip(a, times, strict=True)) == pytest.approx(poly.deriv()(times[0]), abs=1e-12)


def test_error_estimate_is_exact_for_a_cubic_and_the_order_ramps_after_a_restart():
    """For u = t³ the BDF2 local error and the Milne estimate agree (both ∝ u''')."""
    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True, False), comm=MPI.COMM_WORLD)
    u = lambda t: np.array([t**3])  # noqa: E731
    integrator.restart(0.0, [u(0.0), np.zeros(1)])
    assert integrator.order == 1 and not integrator.estimated
    integrator.accepted(0.5, [u(0.5), np.zeros(1)])
    assert integrator.order == 1 and integrator.estimated
    integrator.accepted(1.0, [u(1.0), np.zeros(1)])
    assert integrator.order == 2
    dt = 0.5
    a0, a1, a2 = integrator.weights(dt)
    # the BDF2 solution of u' = f(t) = 3t² from exact past levels: a0 u_c + a1 u(1) + a2 u(0.5) = f(1.5)
    u_c = (3 * 1.5**2 - a1 * 1.0 - a2 * 0.125) / a0
    estimate = integrator.error(dt, [np.array([u_c]), np.array([1e9])])  # the algebraic block is ignored
    assert estimate == pytest.approx(abs(u_c - 1.5**3), rel=1e-9)


def test_dense_output_crossing():
    times, values = [2.0, 1.0, 0.0], [4.0, 1.0, 0.0]  # t²
    assert dense_output(times, values, 1.5) == pytest.approx(2.25)
    assert crossing(times, values, 2.0) == pytest.approx(np.sqrt(2.0), rel=1e-12)
    assert crossing(times[:2], values[:2], 2.5) == pytest.approx(1.5)  # linear after a restart
    assert crossing(times, values, 5.0) is None


def _integrator_with_history(knots, values, surface=None):
    """BDF2 (atol 1, rtol 0) with levels at t = 0, 0.5, 1 of the node values ``values(t)``; ``knots``
    of the one block (None: none) acting at the nodes ``surface``."""
    per_block = None if knots is None else [(np.asarray(knots, dtype=float), surface)]
    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD, kinks=per_block)
    integrator.restart(0.0, [values(0.0)])
    integrator.accepted(0.5, [values(0.5)])
    integrator.accepted(1.0, [values(1.0)])
    return integrator


def test_nodes_near_a_crossed_knot_leave_the_error_norm_and_the_others_still_control_it():
    """Node 0 (the surface) crosses the knot 0.5 with a jump of u'' (a table kink): its O(Δt²)
    estimate leaves the norm; node 1 (inside) keeps its smooth O(Δt³) estimate; without knots node 0
    rules."""
    def values(t):
        return np.array([0.45 + 0.05 * t + 20.0 * max(t - 1.0, 0.0) ** 2, 0.1 * t**3])

    new = [values(1.5)]
    plain = _integrator_with_history(None, values).error(0.5, new)
    kinked = _integrator_with_history([0.5], values, surface=np.array([True, False])).error(0.5, new)
    smooth_only = _integrator_with_history(None, lambda t: values(t)[1:]).error(0.5, [values(1.5)[1:]])
    assert plain > 10 * smooth_only > 0.0
    assert kinked == pytest.approx(smooth_only, rel=1e-12)


def test_a_block_that_only_touches_a_knot_crosses_nothing():
    """θ starting on a knot (the window's edge) and moving away from it stays in the norm."""
    def values(t):
        return np.array([0.25 + 0.01 * t**3, 0.25 + 0.02 * t**3])

    new = [values(1.5)]
    assert _integrator_with_history([0.25], values, surface=np.array([True, True])).error(0.5, new) == pytest.approx(
        _integrator_with_history(None, values).error(0.5, new), rel=1e-12)
    levels = [values(t) for t in (1.5, 1.0, 0.5, 0.0)]
    assert not crosses_knot(levels, np.array([0.25]), np.array([True, True]), MPI.COMM_WORLD)
    assert crosses_knot(levels, np.array([0.26]), np.array([True, True]), MPI.COMM_WORLD)


def test_a_magnitude_floor_measures_small_values_on_their_range():
    """The weight is atol + rtol max(|u|, m): with m = 1 (a phase-field θ) an error 1e-6 at θ = 0.01 is
    rtol-sized (norm 1 at rtol 1e-6), with m = 0 (the default) it is measured against rtol·0.01 (norm ~100)."""
    def norm(magnitudes):
        integrator = BdfIntegrator(rtol=1e-6, atol=1e-12, differential=(True,), comm=MPI.COMM_WORLD,
                                   magnitudes=magnitudes)
        integrator.restart(0.0, [np.array([0.01])])
        integrator.accepted(1.0, [np.array([0.01])])  # constant: the predictor at t = 2 is 0.01
        return integrator.error(1.0, [np.array([0.01 + 3e-6])])  # backward Euler: c = 1/3, E = 1e-6

    assert norm([1.0]) == pytest.approx(1e-6 / (1e-12 + 1e-6), rel=1e-9)
    assert norm(None) == pytest.approx(1e-6 / (1e-12 + 1e-6 * (0.01 + 3e-6)), rel=1e-9)
    assert norm([0.0]) == norm(None)


def test_a_jumping_block_enters_the_norm_only_once_the_stencil_is_past_the_restart():
    """The cell voltage (block 1, algebraic) jumps at a control change: the restart level holds the
    value from before it. Its estimate is measured from the fourth step after the restart (BDF2's
    three levels all after it), and it is carried through a checkpoint; u = t² in block 0 has no
    BDF1 error at the third step, so any norm there is block 1's."""
    def level(t, jump=0.0):
        return [np.array([0.0]), np.array([1.0 + 0.1 * t**3 + jump])]

    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True, False), comm=MPI.COMM_WORLD,
                               jumping=(False, True))
    integrator.restart(0.0, level(0.0, jump=-5.0))  # before the control change
    integrator.accepted(0.5, level(0.5))
    assert integrator.measured() == [True, False]
    assert integrator.error(0.5, level(1.0)) == 0.0  # the predictor through the jump is not measured
    integrator.accepted(1.0, level(1.0))
    assert integrator.measured() == [True, False]
    integrator.accepted(1.5, level(1.5))
    assert integrator.measured() == [True, True]
    c = error_constant(2.0, [1.5, 1.0, 0.5], 2)
    exact = abs(c * 0.1 * ((2.0**3) - (1.5**3 * 3 - 1.0**3 * 3 + 0.5**3)))  # corrector − quadratic predictor
    assert integrator.error(0.5, level(2.0)) == pytest.approx(exact, rel=1e-12) and exact > 0.0
    saved, arrays = integrator.checkpoint_state()
    restored = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True, False), comm=MPI.COMM_WORLD, jumping=(False, True))
    restored.restore_checkpoint_state(saved, arrays)
    assert restored.measured() == [True, True]
    plain = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True, False), comm=MPI.COMM_WORLD)
    plain.restore_checkpoint_state(saved, arrays)
    assert plain.error(0.5, level(2.0)) == 0.0  # without ``jumping`` the voltage is never measured
