"""The arithmetic around each try of a time step (issue 14): the predictor is computed once per try and
the scheme's scalar coefficients without numpy, with results bit-identical to the numpy formulas.

Measured (bench/bench_overhead.py, a sphere-1d sensitivity run, CPU per try of ~6.6 ms): weights
98 → 19 µs, predictor + error norm 540 → 120 µs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from ecmx.solver.timeloop import integrators
from ecmx.solver.timeloop.integrators import BdfIntegrator


def _numpy_derivative_weights(times: list[float]) -> np.ndarray:
    """The weights as numpy computed them before (the reference for bit-identity)."""
    t = np.asarray(times, dtype=float)
    weights = np.zeros(t.size)
    for j in range(t.size):
        others = [m for m in range(t.size) if m != j]
        denominator = np.prod([t[j] - t[m] for m in others])
        if j == 0:
            numerator = sum(np.prod([t[0] - t[m] for m in others if m != i]) for i in others)
        else:
            numerator = np.prod([t[0] - t[m] for m in others if m != 0])
        weights[j] = numerator / denominator
    return weights


def _numpy_extrapolate(times: list[float], values: list[np.ndarray], t: float) -> np.ndarray:
    result = np.zeros_like(values[0], dtype=float)
    for j, (tj, vj) in enumerate(zip(times, values, strict=True)):
        result = result + np.prod([(t - tm) / (tj - tm) for m, tm in enumerate(times) if m != j]) * vj
    return result


def _integrator(rng: np.random.Generator) -> BdfIntegrator:
    integrator = BdfIntegrator(1e-4, 1e-6, (True, False, True), MPI.COMM_SELF, magnitudes=(1.0, 0.0, 0.0),
                               warp=False)  # the reference below extrapolates on t
    times = np.cumsum(rng.uniform(0.1, 3.0, 3))
    integrator.restart(0.0, [rng.random(17), rng.random(1), rng.random(5)])
    for t in times[:2]:
        integrator.accepted(float(t), [rng.random(17), rng.random(1), rng.random(5)])
    return integrator


@pytest.mark.parametrize("seed", range(5))
def test_scalar_coefficients_are_bit_identical_to_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3):
        times = [float(v) for v in np.sort(rng.uniform(0.0, 1e4, n))[::-1]]
        assert np.array_equal(integrators.lagrange_derivative_weights(times), _numpy_derivative_weights(times))
        values = [rng.normal(size=11) for _ in times]
        t = times[0] + rng.uniform(1e-3, 10.0)
        assert np.array_equal(integrators.extrapolate(times, values, t), _numpy_extrapolate(times, values, t))


def test_error_norm_uses_the_try_s_own_predictor_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    integrator = _integrator(rng)
    dt = 0.7
    order, t_new = integrator.order, integrator.times[0] + dt
    past = integrator.times[: order + 1]
    reference = [_numpy_extrapolate(past, [s[b] for s in integrator.states[: order + 1]], t_new) for b in range(3)]
    calls = []
    real = integrators.extrapolate
    monkeypatch.setattr(integrators, "extrapolate", lambda *a: calls.append(1) or real(*a))
    guess = integrator.predict(dt)
    assert all(np.array_equal(g, r) for g, r in zip(guess, reference, strict=True))
    state = [g + rng.normal(scale=1e-5, size=g.shape) for g in guess]
    error = integrator.error(dt, state)
    assert len(calls) == 3  # one extrapolation per block, none again for the error norm
    c = integrators.error_constant(t_new, past, order)
    expected = 0.0
    for b in (0, 2):
        scale = 1e-6 + 1e-4 * np.maximum(np.maximum(np.abs(state[b]), np.abs(integrator.states[0][b])), (1.0, 0.0, 0.0)[b])
        expected = max(expected, float(np.abs(c * (state[b] - reference[b]) / scale).max()))
    assert error == expected
    integrator.accepted(t_new, state)  # new levels: a new predictor
    again = integrator.predict(dt)
    assert len(calls) == 6 and not np.array_equal(again[0], guess[0])
    assert math.isfinite(integrator.error(dt, again)) and integrator.error(dt, again) == 0.0
