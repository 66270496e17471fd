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
    assert bdf_weights([1.0, 0.0]) == pytest.approx((1.0, -1.0, 0.0, 0.0))  # backward Euler
    assert bdf_weights([1.0, 0.0, -1.0]) == pytest.approx((1.5, -2.0, 0.5, 0.0))  # BDF2, equal steps
    omega, dt = 2.0, 1.0  # variable step: a0 = (1+2ω)/((1+ω)dt), a1 = −(1+ω)/dt, a2 = ω²/((1+ω)dt)
    assert bdf_weights([1.0, 0.0, -0.5]) == pytest.approx(
        ((1 + 2 * omega) / (1 + omega) / dt, -(1 + omega) / dt, omega**2 / (1 + omega) / dt, 0.0))
    assert bdf_weights([1.0, 0.0, -1.0, -2.0]) == pytest.approx((11 / 6, -3.0, 1.5, -1 / 3))  # BDF3, equal steps
    assert error_constant(1.0, [0.0, -1.0], 1) == pytest.approx(1 / 3)
    assert error_constant(1.0, [0.0, -1.0, -2.0], 2) == pytest.approx(2 / 11)
    assert error_constant(1.0, [0.0, -1.0, -2.0, -3.0], 3) == pytest.approx(3 / 25)  # C = 1/4, π = 1: (1/4)/(1/4 + 1)


def test_bdf2_weights_differentiate_quadratics_exactly():
    times = [2.3, 1.6, 0.4]
    a = bdf_weights(times)
    for poly in (np.poly1d([1.0]), np.poly1d([3.0, -1.0]), np.poly1d([0.7, 2.0, -5.0])):
        assert sum(w * poly(t) for w, t in zip(a, times, strict=False)) == pytest.approx(poly.deriv()(times[0]), abs=1e-12)


def test_bdf3_weights_differentiate_cubics_exactly_and_not_quartics():
    times = [2.3, 1.6, 0.4, 0.1]
    a = bdf_weights(times)
    for poly in (np.poly1d([1.0]), np.poly1d([0.7, 2.0, -5.0]), np.poly1d([-0.3, 0.7, 2.0, -5.0])):
        assert sum(w * poly(t) for w, t in zip(a, times, strict=True)) == pytest.approx(poly.deriv()(times[0]), abs=1e-12)
    quartic = np.poly1d([1.0, 0.0, 0.0, 0.0, 0.0])
    assert abs(sum(w * quartic(t) for w, t in zip(a, times, strict=True)) - quartic.deriv()(times[0])) > 0.1


def test_error_estimate_is_exact_for_a_cubic_and_the_order_ramps_after_a_restart():
    """For u = t³ the BDF2 local error and the Milne estimate agree (both ∝ u''')."""
    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True, False), comm=MPI.COMM_WORLD, warp=False)
    u = lambda t: np.array([t**3])  # noqa: E731
    integrator.restart(0.0, [u(0.0), np.zeros(1)])
    assert integrator.order == 1 and not integrator.estimated
    integrator.accepted(0.5, [u(0.5), np.zeros(1)])
    assert integrator.order == 1 and integrator.estimated
    integrator.accepted(1.0, [u(1.0), np.zeros(1)])
    assert integrator.order == 2
    dt = 0.5
    a0, a1, a2, a3 = integrator.weights(dt)
    assert a3 == 0.0
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
    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD, kinks=per_block, warp=False)
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
                               jumping=(False, True), warp=False)
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


def _smooth_run(f, h: float, steps: int, atol: float, warp: bool = False) -> list[int]:
    """The orders of ``steps`` steps of ``h`` from a restart at 0 along the exact solution ``f`` (levels
    taken from f, each step's order chosen by :meth:`BdfIntegrator.select_order`)."""
    integrator = BdfIntegrator(rtol=0.0, atol=atol, differential=(True,), comm=MPI.COMM_WORLD, warp=warp)
    integrator.restart(0.0, [f(0.0)])
    t, orders = 0.0, []
    for _ in range(steps):
        orders.append(integrator.order)
        error = integrator.error(h, [f(t + h)])
        integrator.select_order(h, [f(t + h)], error)
        t += h
        integrator.accepted(t, [f(t)])
    return orders


def test_the_order_ramps_to_two_after_a_restart_and_rises_to_three_where_that_allows_longer_steps():
    """exp(−t) at h = 0.1: at a tight tolerance (atol 1e-9) BDF3's smaller error lets the longer step, and the
    order rises after three steps at 2 (DASSL's rule); at a loose one (atol 1) BDF2's error, far below the
    tolerance, grows more slowly with the step (Δt³ against Δt⁴) and 2 stays."""
    decay = lambda t: np.array([np.exp(-t)])  # noqa: E731
    assert _smooth_run(decay, 0.1, 8, atol=1e-9) == [1, 1, 2, 2, 2, 3, 3, 3]
    assert _smooth_run(decay, 0.1, 8, atol=1.0) == [1, 1, 2, 2, 2, 2, 2, 2]


def test_a_step_across_a_kink_keeps_its_order_and_its_error():
    integrator = BdfIntegrator(rtol=0.0, atol=1e-9, differential=(True,), comm=MPI.COMM_WORLD, warp=False)
    integrator.restart(0.0, [np.array([1.0])])
    for t in (0.1, 0.2, 0.3):
        integrator.accepted(t, [np.array([np.exp(-t)])])
    integrator.kinked = True
    assert integrator.select_order(0.1, [np.array([np.exp(-0.4)])], 0.5) == (2, 0.5)


def test_the_square_root_clock_after_a_restart():
    """After a restart at t_r = 2 the steps of order ≥ 2 run on s = √(t − t_r): their weights differentiate
    a + b s + c s² (+ d s³ at order 3) exactly at tₙ₊₁, so also a Na content linear in t (= s²), and the
    √t layer of a diffusion start leaves no error estimate; backward Euler runs on t (exact for t,
    which on s it would not be)."""
    t_r = 2.0

    def series(t, cubic=0.0):
        s = np.sqrt(t - t_r)
        return 1.0 - 0.8 * s + 0.3 * s**2 + cubic * s**3

    def rate(t, cubic=0.0):
        s = np.sqrt(t - t_r)
        return (-0.8 + 0.6 * s + 3.0 * cubic * s**2) / (2.0 * s)

    integrator = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD)
    integrator.restart(t_r, [np.array([series(t_r)])])
    assert integrator.weights(0.01) == pytest.approx((100.0, -100.0, 0.0, 0.0))  # backward Euler on t
    levels = [t_r]
    for t in (t_r + 0.01, t_r + 0.03):
        integrator.accepted(t, [np.array([series(t)])])
        levels.insert(0, t)
    assert integrator.order == 2
    t_new = t_r + 0.07
    a = integrator.weights(0.04)
    assert sum(w * series(t) for w, t in zip(a, [t_new, *levels], strict=False)) == pytest.approx(rate(t_new), rel=1e-12)
    assert sum(w * t for w, t in zip(a, [t_new, *levels], strict=False)) == pytest.approx(1.0, rel=1e-12)
    assert integrator.error(0.04, [np.array([series(t_new)])]) == pytest.approx(0.0, abs=1e-12)
    plain = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD, warp=False)
    plain.restart(t_r, [np.array([series(t_r)])])
    for t in (t_r + 0.01, t_r + 0.03):
        plain.accepted(t, [np.array([series(t)])])
    assert plain.error(0.04, [np.array([series(t_new)])]) > 1e-3  # on t the √t start is far from quadratic

    integrator.accepted(t_new, [np.array([series(t_new, 0.5)])])
    levels.insert(0, t_new)
    integrator.chosen_order = 3
    assert integrator.order == 3
    t_next = t_new + 0.05
    a = integrator.weights(0.05)
    nodes = [t_next, *levels[:3]]  # BDF3's stencil
    assert sum(w * series(t, 0.5) for w, t in zip(a, nodes, strict=True)) == pytest.approx(rate(t_next, 0.5), rel=1e-10)
    assert sum(w * t for w, t in zip(a, nodes, strict=True)) == pytest.approx(1.0, rel=1e-12)


def test_the_next_step_is_scaled_on_the_integrators_clock():
    """A step whose length on s = √(t − t_r) is f times the last one's: from t_r + 1 (s = 1) after a step of
    0.44 s from t_r + 0.56 (s from 0.75... 1, Δs = 0.25), f = 2 gives s = 1.5, i.e. 1.25 s; on t, 2 × 0.44 s."""
    warped = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD)
    warped.restart(3.0, [np.zeros(1)])
    assert warped.rescaled(3.5625, 0.4375, 2.0, 4.0) == pytest.approx(1.25)
    plain = BdfIntegrator(rtol=0.0, atol=1.0, differential=(True,), comm=MPI.COMM_WORLD, warp=False)
    plain.restart(3.0, [np.zeros(1)])
    assert plain.rescaled(3.5625, 0.4375, 2.0, 4.0) == pytest.approx(0.875)


def test_the_predictor_weights_are_those_of_predict():
    """predict() is Σ wᵢ uᵢ with predictor_weights' wᵢ on the accepted levels, newest first, on t and on
    the √t clock, at every order; the weights sum to one; none right after a restart."""
    for warped in (False, True):
        integrator = BdfIntegrator(1e-6, 1e-9, (True,), MPI.COMM_WORLD)
        integrator.restart(2.0, [np.array([1.0, 3.0])], warped=warped)
        assert integrator.predictor_weights(0.5) is None
        for n, t in enumerate((2.3, 2.9, 4.0, 5.5), start=1):
            integrator.accepted(t, [np.array([np.sqrt(t) + n, t**2])])
            weights = integrator.predictor_weights(0.7)
            predicted = integrator.predict(0.7)[0]
            levels = [s[0] for s in integrator.states[: len(weights)]]
            assert len(weights) == integrator.order + 1
            assert abs(sum(weights) - 1.0) < 1e-12
            assert np.allclose(predicted, sum(w * u for w, u in zip(weights, levels, strict=True)), rtol=1e-14)
